"""Runtimes: the same trained model, run by faster engines.

The technique
    A network's arithmetic can be executed in many ways. Eager PyTorch runs
    one operator at a time in fp32; a faster runtime keeps the model and its
    weights but changes how they are executed:

    * lower precision: bf16 (or on a GPU fp16) autocast, half the bytes per
      activation and, where the CPU has bf16 instructions (AVX512-BF16, AMX),
      faster matrix units;
    * memory layout: channels_last (NHWC), the layout oneDNN and cuDNN
      convolutions prefer;
    * graph compilation: `torch.compile` (PyTorch 2: TorchDynamo captures the
      graph from Python bytecode, TorchInductor fuses operators and generates
      C++/OpenMP or Triton kernels); on CUDA, `mode="reduce-overhead"` also
      replays the whole step as a CUDA graph;
    * exported graphs run by another engine: ONNX Runtime (the graph exported
      with `torch.onnx.export(..., dynamo=True)`, run by its CPU execution
      provider) and OpenVINO (`openvino.convert_model` + `compile_model`),
      with OpenVINO's inference precision made explicit: on a CPU with bf16
      support it silently defaults to bf16, so f32 and bf16 hints are two rows;
    * attention kernels (CUDA): the scaled-dot-product-attention backends
      (FlashAttention, memory-efficient, math) forced one at a time.

    Each runtime here is a `torch.nn.Module` with `forward(x, t) -> v`, so one
    sampler drives all of them. The technique code below builds them
    (`RuntimeConfig` + `build_runtime`); the libraries do the work.

What is measured
    One sampler (DPM-Solver++(2M) by default, deterministic) at a fixed step
    count, with the same noise for every runtime. Per runtime: the median
    per-sample wall time over interleaved repeats, its setup time (export,
    conversion, compilation and the first call at each working batch shape)
    and the **break-even number of samples**: setup time above eager's,
    divided by the per-sample saving. Quality must not change: agreement with
    the eager fp32 samples from the same noise (max abs error, PSNR), and FD
    and KID with paired verdicts against both baselines.
    Baselines, in the same run: the full-cost baseline is eager fp32 at the
    same steps. The equal-cost baseline of a runtime is eager fp32 given the
    runtime's time budget: before the timed run every runtime's forward pass
    at the working batch is timed against eager's (interleaved, median of a
    few calls), and eager fp32 runs with round(steps x time ratio) steps.
    Network evaluations all cost the same here, so fewer steps is the only
    thing eager can trade for time; a runtime that is not faster has the
    full-cost row as its equal-cost baseline. FLOPs are not counted inside
    ONNX Runtime or OpenVINO (their rows show none).

    What to expect here: a 450k-parameter UNet on 16x16 digits, on a 2-core
    CPU. Every engine gets the run's thread count. The quick configuration
    leaves torch.compile out (compiling takes tens of seconds per batch shape
    here; its setup time, and whether TorchInductor's on-disk cache was hit,
    are in the full configuration's table). Attention is a few percent of
    this UNet's time, so SDPA kernels cannot show here; on CUDA the fp16,
    SDPA-backend and CUDA-graph rows run, and batch, `width` and
    `image_size` make the model big enough for kernels to matter.

With your own model (`--model DIR`, `core/usermodel.py`)
    The runtimes are built from your network (wrapped so that it is
    `net(x, t)`; a runtime whose export or conversion fails on it is skipped
    with the reason in the notes), the solver from your scheduler config.
    Quality is agreement with eager fp32's output from the same noise (PSNR
    and SSIM per row, higher is better; paired against the equal-cost row).

Catalog papers: pytorch2-2024 (torch.compile), speed-all-need-device-2023
(GPU-aware kernels for on-device diffusion); the frameworks whose idea is
measured here in their place: flashattention and xformers (the SDPA backends,
on CUDA), stable-fast and onediff (compiling the unchanged model).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import logging
import random
import statistics
import time
from dataclasses import dataclass
from typing import Optional

import torch

from ..core import harness
from ..core.device import sync
from ..core.schedulers import describe, expected_nfe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import teacher_for
from ..core.usermodel import check_steps, model_for


# ---------------------------------------------------------------------------
# the technique: a RuntimeConfig and build_runtime(unet, cfg, ...)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeConfig:
    name: str
    label: str
    engine: str                      # eager | compile | onnxruntime | openvino
    dtype: str = "fp32"              # torch autocast precision (eager, compile); OpenVINO's precision hint
    channels_last: bool = False
    sdpa: Optional[str] = None       # SDPA backend forced around the forward: flash | efficient | math
    compile_mode: str = "default"    # torch.compile mode ("reduce-overhead" = CUDA graphs on CUDA)
    cuda_only: bool = False


RUNTIMES = {c.name: c for c in (
    RuntimeConfig("bf16", "eager bf16 autocast", "eager", dtype="bf16"),
    RuntimeConfig("fp16", "eager fp16 autocast", "eager", dtype="fp16", cuda_only=True),
    RuntimeConfig("channels_last", "eager fp32 channels_last", "eager", channels_last=True),
    RuntimeConfig("compile", "torch.compile fp32", "compile"),
    RuntimeConfig("compile_bf16", "torch.compile + bf16 autocast", "compile", dtype="bf16"),
    RuntimeConfig("cuda_graphs", "torch.compile reduce-overhead (CUDA graphs)", "compile",
                  compile_mode="reduce-overhead", cuda_only=True),
    RuntimeConfig("sdpa_flash", "SDPA FlashAttention backend", "eager", sdpa="flash", cuda_only=True),
    RuntimeConfig("sdpa_efficient", "SDPA memory-efficient backend", "eager", sdpa="efficient", cuda_only=True),
    RuntimeConfig("sdpa_math", "SDPA math backend", "eager", sdpa="math", cuda_only=True),
    RuntimeConfig("onnxruntime", "ONNX Runtime fp32", "onnxruntime"),
    RuntimeConfig("openvino_fp32", "OpenVINO f32 hint", "openvino", dtype="fp32"),
    RuntimeConfig("openvino_bf16", "OpenVINO bf16 hint", "openvino", dtype="bf16"),
)}
CPU_RUNTIMES = tuple(n for n, c in RUNTIMES.items() if not c.cuda_only)
OPTIONAL = {"onnxruntime": ("onnxruntime", "onnx", "onnxscript"), "openvino": ("openvino",)}
EXTRA = "diffatlas[runtimes]"


class Skipped(Exception):
    """A runtime that cannot run here (not installed, wrong device, conversion failed): a note, not a crash."""


def import_optional(name: str):
    """The module, or Skipped naming the extra that provides it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Skipped(f"{name} is not importable here ({exc}); install the optional extra {EXTRA}") from None


def _prediction(out):
    """A diffusers output's tensor; a user's model (usermodel.UserNet) returns the tensor itself."""
    return out.sample if hasattr(out, "sample") else out


class TorchRunner(torch.nn.Module):
    """The UNet as `forward(x, t) -> v`, optionally in channels_last and with one SDPA backend forced."""

    def __init__(self, unet: torch.nn.Module, channels_last: bool = False, sdpa: Optional[str] = None):
        super().__init__()
        self.unet = unet.to(memory_format=torch.channels_last) if channels_last else unet
        self.channels_last = channels_last
        self.sdpa = sdpa

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # the harness expands a scalar timestep to the batch (a stride-0 view); a compiled UNet guards on
        # strides, so a contiguous copy keeps one compiled graph per batch shape instead of recompiling mid-run
        x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()
        t = t.contiguous()
        if self.sdpa is None:
            return _prediction(self.unet(x, t))
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                   "math": SDPBackend.MATH}[self.sdpa]
        with sdpa_kernel([backend]):
            return _prediction(self.unet(x, t))


class CudaGraphRunner(torch.nn.Module):
    """A module compiled with mode="reduce-overhead": each call replays a CUDA graph into the same output
    buffers, so the output is copied out before the sampler keeps it."""

    def __init__(self, compiled: torch.nn.Module):
        super().__init__()
        self.compiled = compiled

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        torch.compiler.cudagraph_mark_step_begin()
        return self.compiled(x, t).clone()


class OnnxRuntimeRunner(torch.nn.Module):
    """An onnxruntime.InferenceSession as `forward(x, t)`; keeps the source UNet so its size is reported."""

    def __init__(self, session, source: torch.nn.Module):
        super().__init__()
        self.session = session
        self.source = source
        self.names = [i.name for i in session.get_inputs()]

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        feeds = {self.names[0]: x.detach().float().cpu().numpy(), self.names[1]: t.detach().long().cpu().numpy()}
        return torch.from_numpy(self.session.run(None, feeds)[0]).to(x.device)


class OpenVinoRunner(torch.nn.Module):
    """An OpenVINO CompiledModel as `forward(x, t)`; keeps the source UNet so its size is reported."""

    def __init__(self, compiled, source: torch.nn.Module):
        super().__init__()
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.source = source

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.request.infer([x.detach().float().cpu().numpy(), t.detach().long().cpu().numpy()])
        return torch.from_numpy(out[0].copy()).to(x.device)  # the request reuses its output buffer


@contextlib.contextmanager
def _quiet(logger: str):
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def export_program(unet: torch.nn.Module, example: tuple[torch.Tensor, torch.Tensor]):
    """torch.export of the fp32 UNet with a dynamic batch dimension (shared by ONNX Runtime and OpenVINO)."""
    batch = torch.export.Dim.AUTO
    return torch.export.export(TorchRunner(unet).eval(), example, dynamic_shapes=({0: batch}, {0: batch}))


class Shared:
    """What several runtimes build from the same model (the torch.export, OpenVINO's converted graph), made once.

    Every runtime that uses an artifact is charged its full creation time, as if deployed alone:
    `reused_s` sums what the current runtime took from the cache, for its setup time.
    """

    def __init__(self, unet: torch.nn.Module, example: tuple[torch.Tensor, torch.Tensor]):
        self.unet, self.example = unet, example
        self.items: dict = {}
        self.reused_s = 0.0

    def get(self, key: str, make) -> tuple:
        if key in self.items:
            self.reused_s += self.items[key][1]
            return self.items[key]
        start = time.perf_counter()
        value = make()
        self.items[key] = (value, time.perf_counter() - start)
        return self.items[key]

    def program(self) -> tuple:
        return self.get("torch.export", lambda: export_program(self.unet, self.example))


def build_runtime(unet: torch.nn.Module, cfg: RuntimeConfig, device: torch.device, threads: int,
                  shared: Optional[Shared] = None) -> tuple[torch.nn.Module, dict]:
    """A module `forward(x, t) -> v` running `unet` under `cfg`, and facts about it (precision, engine, seconds).

    `shared` (made with an example input at the working batch) lets ONNX Runtime and OpenVINO share one
    torch.export. Raises Skipped when the runtime cannot run here.
    """
    if cfg.cuda_only and device.type != "cuda":
        raise Skipped(f"CUDA only (this run is on {device.type}); on a GPU this row measures {cfg.label}")
    if cfg.engine == "eager":
        return TorchRunner(copy.deepcopy(unet) if cfg.channels_last else unet, cfg.channels_last, cfg.sdpa).eval(), \
            {"precision": cfg.dtype}
    if cfg.engine == "compile":
        # the UNet is compiled (a copy per row, so no row runs a graph another row compiled under other
        # settings); the eager TorchRunner around it hands it contiguous inputs
        mode = None if cfg.compile_mode == "default" else cfg.compile_mode
        runner = TorchRunner(torch.compile(copy.deepcopy(unet).eval(), mode=mode))
        return (CudaGraphRunner(runner) if mode == "reduce-overhead" else runner), {"precision": cfg.dtype}
    if cfg.engine == "onnxruntime":
        for name in OPTIONAL["onnxruntime"]:
            import_optional(name)
        ort = import_optional("onnxruntime")
        providers = ["CUDAExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
        if providers[0] not in ort.get_available_providers():
            raise Skipped(f"onnxruntime {ort.__version__} has no {providers[0]} here (onnxruntime-gpu provides it)")
        program, export_s = shared.program()
        start = time.perf_counter()
        with _quiet("torch.onnx"):  # it warns that torchvision's detection ops are not registered: not used here
            onnx_program = torch.onnx.export(program, program.example_inputs[0], dynamo=True, optimize=True,
                                             verbose=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(onnx_program.model_proto.SerializeToString(), options, providers=providers)
        return OnnxRuntimeRunner(session, unet), {"precision": "fp32", "export_s": export_s,
                                                  "convert_s": time.perf_counter() - start,
                                                  "engine_version": f"onnxruntime {ort.__version__}"}
    if cfg.engine == "openvino":
        ov = import_optional("openvino")
        if device.type != "cpu":
            raise Skipped(f"OpenVINO runs on Intel CPUs and GPUs; this run is on {device.type}")
        program, export_s = shared.program()
        model, convert_s = shared.get("openvino.convert_model", lambda: ov.convert_model(program))
        start = time.perf_counter()
        hint = {"fp32": "f32", "bf16": "bf16"}[cfg.dtype]
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                          "INFERENCE_NUM_THREADS": threads})
        actual = ov_precision(compiled.get_property("INFERENCE_PRECISION_HINT"))
        return OpenVinoRunner(compiled, unet), {"precision": actual, "precision_hint": hint, "export_s": export_s,
                                                "convert_s": convert_s + time.perf_counter() - start,
                                                "engine_version": f"openvino {ov.__version__}"}
    raise ValueError(f"unknown engine {cfg.engine!r}")


def ov_precision(element_type) -> str:
    """An OpenVINO element type ('f32', 'bf16', 'f16') in this project's names (fp32, bf16, fp16)."""
    name = element_type.get_type_name() if hasattr(element_type, "get_type_name") else str(element_type)
    return {"f32": "fp32", "f16": "fp16"}.get(name, name)


def openvino_default_precision() -> Optional[str]:
    """OpenVINO's CPU inference precision when no hint is given (bf16 on CPUs with bf16 support)."""
    try:
        core = importlib.import_module("openvino").Core()
        return ov_precision(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
    except Exception:  # noqa: BLE001 - not installed or no CPU plugin: nothing to report
        return None


def break_even(setup_s: float, baseline_setup_s: float, baseline_ms: float, runtime_ms: float) -> Optional[float]:
    """Samples after which a runtime's extra setup time is paid back; None when it saves nothing per sample.

    N = (setup - baseline setup) / (baseline time per sample - runtime time per sample)
    """
    saving_s = (baseline_ms - runtime_ms) / 1000.0
    if saving_s <= 0:
        return None
    return max(0.0, setup_s - baseline_setup_s) / saving_s


def agreement(images: torch.Tensor, reference: torch.Tensor) -> dict:
    """Max abs error and PSNR (dB, data range [-1, 1]) of samples against the same-noise reference samples."""
    err = (images.float() - reference.float())
    mse = float(err.pow(2).mean())
    psnr = float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(4.0 / mse)).item()
    return {"max_abs_err": float(err.abs().max()), "psnr_db": psnr}


# ---------------------------------------------------------------------------
# setting runtimes up, timed; the equal-cost step counts
# ---------------------------------------------------------------------------


def _shapes(params: dict) -> list[int]:
    """Every batch size the harness will call the network with: working batch, the last chunk, batch 1."""
    n, batch = params["n_samples"], min(params["batch"], params["n_samples"])
    return list(dict.fromkeys([batch] + ([n % batch] if n % batch else []) + [1]))


def _ready(module: torch.nn.Module, dtype: str, device: torch.device, shapes: list[int], size: int,
           shape: Optional[tuple] = None, t: int = 500) -> None:
    """First calls at every shape, as the sampler makes them (a scalar timestep through the harness's wrapper):
    compilation happens here, inside the setup time, not in the timed repeats."""
    net = harness.CountingModel(module, dtype=dtype)
    with torch.no_grad():
        for b in shapes:
            net(harness.make_noise(b, 3, device, size, shape), torch.tensor(t, device=device))
    sync(device)


def set_up(unet, names: list[str], params: dict, ctx: RunContext) -> tuple[dict, dict, list[str]]:
    """Build every runtime, timed to its first answers; return {name: (module, facts)}, eager's facts, notes."""
    size, shapes, notes = params["image_size"], _shapes(params), []
    shape, t = _sample_shape(unet, params, ctx), _probe_t(unet)
    example = (harness.make_noise(shapes[0], 1, ctx.device, size, shape),
               torch.full((shapes[0],), t, device=ctx.device, dtype=torch.long))
    shared = Shared(unet, example)

    start = time.perf_counter()
    eager = TorchRunner(unet).eval()
    _ready(eager, "fp32", ctx.device, shapes, size, shape, t)
    built, eager_facts = {}, {"precision": "fp32", "setup_s": time.perf_counter() - start}
    for i, name in enumerate(names):
        cfg = RUNTIMES[name]
        ctx.progress.report(i / max(1, len(names)), f"setting up {cfg.label}")
        shared.reused_s = 0.0
        before = _inductor_cache()
        start = time.perf_counter()
        try:
            module, facts = build_runtime(unet, cfg, ctx.device, ctx.threads, shared)
            _ready(module, _torch_dtype(name), ctx.device, shapes, size, shape, t)
            if cfg.engine == "compile":  # a warm on-disk cache makes a second compilation much cheaper: say which
                after = _inductor_cache()
                facts["inductor_cache"] = f"{after[0] - before[0]} hits, {after[1] - before[1]} misses"
        except Skipped as why:
            notes.append(f"{cfg.label}: skipped: {why}")
            continue
        except Exception as exc:  # noqa: BLE001 - a conversion that fails here is reported, not hidden
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            notes.append(f"{cfg.label}: skipped: setting it up failed with {type(exc).__name__}: {first}")
            continue
        # shared artifacts are charged in full to every runtime that uses them (as if deployed alone)
        facts["setup_s"] = time.perf_counter() - start + shared.reused_s
        built[name] = (module, facts)
    return {"eager": (eager, eager_facts), **built}, eager_facts, notes


def _sample_shape(model, params: dict, ctx: RunContext) -> Optional[tuple]:
    """A user's model's sample shape (None: the digits' 1 x image_size^2); `model` may be a TorchRunner."""
    if ctx.model_path is None:
        return None
    return harness.sample_shape(getattr(model, "unet", model), params["image_size"])


def _probe_t(model) -> int:
    """The timestep of set-up and forward probes: 500, or mid-chain of a user's shorter schedule."""
    return min(500, getattr(getattr(model, "unet", model), "train_timesteps", 1000) // 2)


def _inductor_cache() -> tuple[int, int]:
    """TorchInductor's FX-graph cache (hits, misses) so far in this process."""
    from torch._dynamo.utils import counters

    return counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"]


def forward_ms(runtimes: dict, params: dict, ctx: RunContext, rounds: int = 3) -> dict[str, float]:
    """Median time of one forward pass at the working batch per runtime, interleaved over `rounds` shuffled rounds."""
    batch, size = min(params["batch"], params["n_samples"]), params["image_size"]
    x = harness.make_noise(batch, 5, ctx.device, size, _sample_shape(runtimes["eager"][0], params, ctx))
    t = torch.full((batch,), _probe_t(runtimes["eager"][0]), device=ctx.device, dtype=torch.long)
    times: dict[str, list[float]] = {name: [] for name in runtimes}
    for r in range(rounds):
        order = list(runtimes)
        random.Random(77 + r).shuffle(order)
        for name in order:
            module, facts = runtimes[name]
            net = harness.CountingModel(module, ctx.progress, dtype=_torch_dtype(name))
            with torch.no_grad():
                net(x, t)
            times[name].append(1000 * net.net_seconds)
    return {name: statistics.median(v) for name, v in times.items()}


def _torch_dtype(name: str) -> str:
    """The autocast precision the harness applies around a runtime (only torch engines autocast)."""
    if name == "eager":
        return "fp32"
    cfg = RUNTIMES[name]
    return cfg.dtype if cfg.engine in ("eager", "compile") else "fp32"


def equal_cost_steps(steps: int, ratio: float) -> int:
    """Eager steps that cost what `steps` steps of a runtime `ratio` times eager's forward time cost."""
    return max(1, min(steps, round(steps * ratio)))


# ---------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------


def runtime_method(label: str, solver: str, steps: int, role: str, model=None, dtype: str = "fp32",
                   extra: Optional[dict] = None, keep: Optional[dict] = None,
                   reference: Optional[dict] = None, base: Optional[dict] = None) -> harness.Method:
    """Sample with `solver` at `steps` through `model` (None: eager fp32); keep the repeats' samples for agreement.
    `base`: a user model's scheduler config."""
    probe = make_scheduler(solver, base=base)
    kept = keep.setdefault(label, {}) if keep is not None else {}

    def fn(noise, seed, net):
        x = harness.sample(net, make_scheduler(solver, base=base), noise, steps=steps)
        if seed < harness.COST_SEED and seed not in kept:  # the timed repeats (not the harness's cost pass)
            kept[seed] = x.detach().float().cpu()
        return x

    def report() -> dict:
        shared = [s for s in kept if reference is not None and s in reference]
        if not shared:
            return {}
        return agreement(torch.cat([kept[s] for s in shared]), torch.cat([reference[s] for s in shared]))

    return harness.Method(label, fn, expected_nfe(solver, steps), role, model=model, dtype=dtype,
                          extra={"solver": solver, "steps": steps, **describe(probe), **(extra or {})},
                          report=report if reference is not None else None)


def run(params: dict, ctx: RunContext):
    # 1. model, and the runtimes built from it (setup timed to the first answer at every batch shape)
    unet, info, base, user_notes = model_for(ctx, params, teacher_for)
    steps, solver = params["steps"], params["solver"]
    ctx.progress.stage(0.0, 0.25)
    runtimes, eager_facts, notes = set_up(unet, params["runtimes"], params, ctx)
    techniques = [n for n in runtimes if n != "eager"]
    if not techniques:
        raise ParamError("parameter 'runtimes': none of " + ", ".join(params["runtimes"]) + " can run here ("
                         + "; ".join(notes) + "); choose runtimes this machine has")
    # 2. the equal-cost step counts from a pre-measured forward time per runtime
    ctx.progress.stage(0.25, 0.3).report(0.0, "timing one forward pass per runtime (sets the equal-cost steps)")
    fwd = forward_ms(runtimes, params, ctx)
    eq_steps = {n: equal_cost_steps(steps, fwd[n] / fwd["eager"]) for n in techniques}
    # 3. methods: eager fp32 at `steps` (full cost), eager fp32 at each equal-cost step count, every runtime
    keep: dict = {}
    full_label = f"eager fp32, {steps} steps"
    reference = keep.setdefault(full_label, {})
    methods = [runtime_method(full_label, solver, steps, "full-cost", model=runtimes["eager"][0], keep=keep,
                              reference=reference, extra={"engine": "eager", "precision": "fp32"}, base=base)]
    eq_label, fallback = {}, not any(eq_steps[n] < steps for n in techniques)
    if fallback:  # nothing was faster: eager one step shorter still costs less than every runtime
        eq_steps = {n: steps - 1 for n in techniques}
    for s in sorted({eq_steps[n] for n in techniques if eq_steps[n] < steps}, reverse=True):
        eq_label[s] = f"eager fp32, {s} steps"
        methods.append(runtime_method(eq_label[s], solver, s, "equal-cost", model=runtimes["eager"][0], keep=keep,
                                      reference=reference, extra={"engine": "eager", "precision": "fp32"}, base=base))
    for n in techniques:
        cfg, facts = RUNTIMES[n], runtimes[n][1]
        methods.append(runtime_method(cfg.label, solver, steps, "technique", model=runtimes[n][0],
                                      dtype=_torch_dtype(n), keep=keep, reference=reference,
                                      extra={"engine": cfg.engine, **_plain(facts), "equal_cost_steps": eq_steps[n]},
                                      base=base))
    # 4. measure, all in one run, repeats interleaved (each row fixes its own precision; no extra compile)
    measured = harness.measure_all(methods, unet, dataclasses.replace(ctx, compile=False, dtype="fp32"), params)
    # 5. verdicts against eager fp32 at the same steps and at the runtime's time budget; break-even; agreement
    comparisons, table = verdicts(measured, runtimes, eager_facts, full_label, eq_label, eq_steps, fwd, steps,
                                  fallback)
    notes += _notes(params, ctx, eager_facts, techniques, eq_steps, steps, fallback) + user_notes
    # 6. result
    return harness.result(measured, comparisons, params, model=info, notes=notes,
                          tables={"runtimes: setup, speed, break-even and agreement with eager fp32": table},
                          equal_cost="eager fp32 with fewer steps, as many as the runtime's measured forward time "
                                     "buys (round(steps x runtime/eager forward time))")


def verdicts(measured, runtimes: dict, eager_facts: dict, full_label: str, eq_label: dict, eq_steps: dict,
             fwd: dict, steps: int, fallback: bool) -> tuple[list, list[dict]]:
    """Each runtime against both baselines, and its row of the setup / break-even / agreement table."""
    comparisons, table = [], []
    full = measured.row(full_label)
    for n in (n for n in runtimes if n != "eager"):
        cfg, facts = RUNTIMES[n], runtimes[n][1]
        row = measured.row(cfg.label)
        comparisons += measured.compare(cfg.label, full_label)
        if eq_steps[n] < steps:
            comparisons += measured.compare(cfg.label, eq_label[eq_steps[n]], (
                "no runtime was faster: eager one step shorter, cheaper than every runtime" if fallback
                else f"eager given this runtime's time: {eq_steps[n]} steps"))
        if cfg.engine in ("onnxruntime", "openvino"):
            row.flops_per_sample = row.flops_ratio = None  # only the sampler's torch ops were counted
        n_even = break_even(facts["setup_s"], eager_facts["setup_s"], full.ms_per_sample, row.ms_per_sample)
        row.extra["break_even_samples"] = n_even
        detail = (f"export {facts['export_s']:.1f} s + convert {facts['convert_s']:.1f} s" if "export_s" in facts
                  else f"inductor cache {facts['inductor_cache']}" if "inductor_cache" in facts else "")
        table.append({"runtime": cfg.label, "precision": facts.get("precision"), "setup_s": facts["setup_s"],
                      "setup_detail": detail, "forward_ratio_premeasured": fwd[n] / fwd["eager"],
                      "speedup": row.speedup, "saving_ms_per_sample": full.ms_per_sample - row.ms_per_sample,
                      "break_even_samples": n_even if n_even is not None else "never (not faster)",
                      "equal_cost_steps": eq_steps[n], "max_abs_err": row.extra.get("max_abs_err"),
                      "psnr_db": row.extra.get("psnr_db")})
    return comparisons, table


def _plain(facts: dict) -> dict:
    return {k: v for k, v in facts.items() if isinstance(v, (str, int, float, bool))}


def _notes(params: dict, ctx: RunContext, eager_facts: dict, techniques: list[str], eq_steps: dict, steps: int,
           fallback: bool) -> list[str]:
    notes = []
    slower = [RUNTIMES[n].label for n in techniques if eq_steps[n] >= steps]
    if slower:
        notes.append("not faster than eager fp32 in the pre-measurement, so their equal-cost baseline is the "
                     "full-cost row itself: " + ", ".join(slower))
    if fallback:
        notes.append("no runtime was faster than eager fp32 in the pre-measurement; the equal-cost row is eager "
                     f"fp32 at {steps - 1} steps, which costs less than every runtime")
    notes += [f"setup = wall time from the eager module to the first answer at every batch shape "
             f"({', '.join(map(str, _shapes(params)))}), including export, conversion and compilation; eager's own "
             f"first calls took {eager_facts['setup_s']:.2f} s and are subtracted before the break-even. ONNX Runtime "
             "and OpenVINO share one torch.export; each is charged for it in full, as if deployed alone",
             f"engines use {ctx.threads} thread(s) each (torch threads; ONNX Runtime intra-op threads; OpenVINO "
             "INFERENCE_NUM_THREADS)"]
    default = openvino_default_precision()
    if default is not None and any(RUNTIMES[n].engine == "openvino" for n in techniques):
        notes.append(f"OpenVINO's default CPU inference precision on this machine is {default}: without an explicit "
                     "f32 hint it would not run the fp32 model")
    if not any(RUNTIMES[n].engine == "compile" for n in params["runtimes"]):
        notes.append("torch.compile rows are not in this configuration: compiling this UNet takes tens of seconds "
                     "per batch shape on a 2-core CPU; add them with -p runtimes=...,compile,compile_bf16 or --full")
    if ctx.compile or ctx.dtype != "fp32":
        notes.append("the run options --compile / --dtype are not applied here: every row states its own engine "
                     "and precision, and eager fp32 is the baseline")
    return notes


DEMO = Demo(
    id="runtime",
    title="Runtimes: torch.compile, bf16, channels_last, ONNX Runtime, OpenVINO on one trained model",
    summary="The same UNet and sampler under faster runtimes: speed, setup time, break-even samples, and "
            "agreement with eager fp32 from the same noise.",
    nodes=("shen2025:system.hw_sw_codesign", "shen2025:framework", "ma2024:part6.on_device"),
    papers=("pytorch2-2024", "speed-all-need-device-2023", "flashattention", "xformers", "stable-fast", "onediff"),
    params=common(n_samples=(150, 400), seeds=(3, 4), batch=(150, 200)) + (
        Param(name="steps", type=int, quick=6, full=10, lo=2, hi=1000,
              help="sampler steps for every runtime (the equal-cost eager rows take fewer)"),
        Param(name="solver", type=str, quick="dpmsolver++", full="dpmsolver++", choices=("dpmsolver++", "ddim"),
              help="the one deterministic sampler every row uses"),
        Param(name="runtimes", type=str, many=True,
              quick=["bf16", "onnxruntime", "openvino_fp32"],
              full=list(RUNTIMES), choices=tuple(RUNTIMES),
              help="runtimes to measure against eager fp32 (CUDA-only ones are skipped with a note on a CPU; "
                   "torch.compile rows are in the full configuration: compiling takes tens of seconds here)"),
    ),
    run=run,
    accepts_model=True,
    model_check=lambda params, folder: check_steps(params, folder, "steps"),
    smoke=dict(n_samples=64, seeds=2, batch=64, steps=4, runtimes=["bf16", "channels_last"]),
    module=__name__,
    same_cost_per_nfe=False,
    quick_seconds=42,  # measured 2026-12-02: diffatlas demo run runtime --quick, idle 2-core CPU, 2 threads
    full_seconds=320,  # measured: benchmarks/run_all.py, same machine (benchmarks/report-cpu.md)
)
