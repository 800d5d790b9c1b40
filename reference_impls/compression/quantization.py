"""Post-training quantization: integer weights (and activations) for the trained UNet, no retraining.

The technique
    Post-training quantization (PTQ) stores each convolution and linear
    weight as b-bit integers with a floating-point scale per output channel,
    w ~ s * round(w / s), s = max|w| / (2^(b-1) - 1), and optionally rounds
    the activations entering those layers to integers too, with a scale per
    tensor fixed beforehand on a few "calibration" inputs. Weights shrink
    4x at 8 bits and 8x at 4 bits; integer activations are what lets int8
    matrix kernels run, where the hardware has them.

    For diffusion models the calibration inputs are the question: the
    network sees very different activations at t = T (pure noise) and near
    t = 0. PTQ4DM (Shang et al., CVPR 2023) and Q-Diffusion (Li et al., ICCV
    2023) showed that calibrating on a single timestep, as classical PTQ
    would, fails at low bit widths, and that calibration inputs drawn from
    the whole sampling trajectory keep 8-bit and even 4-bit-weight models
    close to full precision. Here the calibration inputs are the states
    (x_t, t) that the fp32 model itself visits along its DDIM trajectories
    from fresh noise, and the demo compares:

    * `trajectory`: every step's states, in shuffled order (Q-Diffusion's
      time-step-aware calibration, uniform over the sampler's steps);
    * `first` / `last`: the states of one step only (t = T or the last step),
      fed as many times: the single-timestep calibration of classical PTQ.

    The quantizer is optimum-quanto (`quantize(model, weights=qint8|qint4,
    activations=qint8)`, `Calibration()`, `freeze`), which replaces every
    Conv2d and Linear of the diffusers UNet with QConv2d / QLinear (65
    modules; torchao's `quantize_` would reach only the 29 Linear layers,
    15% of the weights). Its scales are per-channel absmax for weights and a
    running (momentum 0.9) per-batch absmax for activations. Activations
    below 8 bits have no kernel in quanto: the `a6` schemes are simulated
    here ("fake quantization", written in this file): the input of every
    quantized layer is rounded to 6 bits with a scale calibrated by the same
    running-absmax rule, then computed in floating point.

    The PT2E path (`pt2e`) is PyTorch's int8 route for convolutions on x86:
    `torch.export`, `prepare_pt2e` with the `X86InductorQuantizer`, the same
    calibration, `convert_pt2e`, then `torch.compile` lowers the int8
    pattern to oneDNN kernels. In torch 2.13 it lives in torchao
    (`torchao.quantization.pt2e`), not in torch; the demo runs it only when
    torchao is installed, and says so when it is not.

What is measured
    The committed fp32 teacher (full-cost baseline), its quantized versions,
    and the equal-cost baseline: an fp32 UNet with about the weight bytes of
    the 8-bit model, i.e. half the channels at every level, (8, 16, 24), a
    quarter of the parameters, trained from scratch with the teacher's recipe
    (`python -m reference_impls.train narrow`; shorter schedule, see
    NARROW_TRAIN). Every row samples with the same DDIM sampler, steps and
    noise. Reported: FD and KID (paired over the seeds), weight bytes as
    stored (int8 / packed int4 data plus scales, and the float biases and
    norms), wall time per sample, and agreement with the fp32 teacher's
    samples from the same noise (PSNR, as quantization papers report).
    Quantization changes the cost of one evaluation, not the NFE, so the
    saving to look for is bytes, and speed only where int8 kernels beat the
    float ones (not on this CPU at 16-48 channels: the demo says what it
    measured).

With your own model (`--model DIR`, `core/usermodel.py`)
    quanto quantizes any torch module, so the schemes run on your
    UNet2DModel, UNet2DConditionModel or DiT as they do on the teacher: the
    full-cost baseline is your model in fp32, the technique rows its
    quantized copies. Calibration states are the DDIM states of your model's
    own trajectories, from noise in its sample shape, with its scheduler
    config (`make_scheduler(..., base=...)`), as is every row's sampler.
    Quality is agreement: PSNR and SSIM of each row's output against the fp32
    model's output from the same noise (the harness's fidelity mode; the
    separate `agreement_samples` probe is not run); cost is weight bytes.
    There is no equal-cost row: an fp32 model of the quantized model's bytes
    would have to be trained on your data, which the demo cannot do. In its
    place, as a `reference` row (not an equal-cost baseline), your fp32
    weights cast to bf16, a training-free half-size control: the quantized
    rows are compared with it (paired PSNR/SSIM over seeds). The narrow model
    is neither loaded nor trained.

Catalog papers: post-training-quantization-diffusion-2023, q-diffusion-2023.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import torch

from ..core import harness
from ..core.checkpoints import config_hash, find_checkpoint, load_weights, save_checkpoint, training_meta, verify_checkpoint
from ..core.data import digits_split
from ..core.device import pick_device
from ..core.model import DEFAULT_SCALE, SCHEDULE_CONFIG, Scale, model_config, weight_bytes
from ..core.schedulers import describe, make_scheduler
from ..core.spec import Demo, Param, ParamError, RunContext, common
from ..core.training import FULL_TRAIN, teacher_for, train_diffusion
from ..core.usermodel import check_steps, model_for

# ---------------------------------------------------------------------------
# the quantization schemes and the config of one quantized model
# ---------------------------------------------------------------------------

# scheme -> (weight bits, activation bits or None for float activations)
SCHEMES = {"w8": (8, None), "w4": (4, None), "w8a8": (8, 8), "w4a8": (4, 8), "w8a6": (8, 6), "w4a6": (4, 6)}
CALIBRATIONS = ("trajectory", "first", "last")
PATHS = ("quanto", "pt2e")


@dataclass(frozen=True)
class QuantConfig:
    weight_bits: int = 8                  # 8 (qint8) or 4 (qint4, packed two per byte)
    activation_bits: Optional[int] = None  # None: float activations; 8: quanto qint8; below 8: simulated
    calibration: str = "trajectory"       # which sampler states calibrate the activation scales

    @property
    def label(self) -> str:
        a = "" if self.activation_bits is None else f"A{self.activation_bits}"
        sim = "*" if self.activation_bits is not None and self.activation_bits < 8 else ""
        cal = "" if self.activation_bits is None else f", calib {self.calibration}"
        return f"quanto W{self.weight_bits}{a}{sim}{cal}"


def pt2e_available() -> bool:
    return importlib.util.find_spec("torchao") is not None


# ---------------------------------------------------------------------------
# calibration inputs: the states the fp32 model visits along its own trajectories
# ---------------------------------------------------------------------------


class _Recorder(torch.nn.Module):
    """Calls the model and keeps every (x_t, t) it is given, one entry per sampler step."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, x, t):
        t = (t if torch.is_tensor(t) else torch.tensor(t)).to(x.device).expand(x.shape[0])
        self.seen.append((x.detach().clone(), t.detach().clone()))
        out = self.model(x, t)
        return out.sample if hasattr(out, "sample") else out


@torch.no_grad()
def calibration_states(model, steps: int, n: int, seed: int, device, size: int, base: Optional[dict] = None,
                       shape: Optional[tuple] = None) -> list[tuple]:
    """The DDIM states (x_t, t) of `n` fresh trajectories of the fp32 model, one (batch) entry per step.
    `base` and `shape`: a user model's scheduler config and sample shape (None: the digits' schedule and shape)."""
    rec = _Recorder(model)
    harness.sample(rec, make_scheduler("ddim", base=base), harness.make_noise(n, seed, device, size, shape),
                   steps=steps)
    return rec.seen


def calibration_batches(states: list[tuple], how: str, seed: int = 0) -> list[tuple]:
    """What the quantizer is calibrated on: every step shuffled, or one step's states as many times."""
    if how == "trajectory":
        order = list(states)
        random.Random(seed).shuffle(order)  # the scales are running averages: do not let the last steps dominate
        return order
    one = states[0] if how == "first" else states[-1]
    return [one] * len(states)


# ---------------------------------------------------------------------------
# simulated low-bit activations (no kernel for these: round, then compute in float)
# ---------------------------------------------------------------------------


class FakeQuantInputs:
    """Round the input of every quantized layer to `bits` bits, symmetric, one scale per tensor.

    Calibration (`calibrating = True`) keeps a running absmax per layer with quanto's rule
    (first batch, then a <- 0.9 a + 0.1 max|x|); afterwards x -> s * clamp(round(x / s), -2^(b-1), 2^(b-1) - 1),
    s = a / (2^(b-1) - 1).
    """

    def __init__(self, model: torch.nn.Module, bits: int, momentum: float = 0.9):
        from optimum.quanto import QModuleMixin

        self.qmax, self.momentum = 2 ** (bits - 1) - 1, momentum
        self.absmax: dict = {}
        self.calibrating = True
        self.handles = [m.register_forward_pre_hook(self._hook) for m in model.modules() if isinstance(m, QModuleMixin)]

    def _hook(self, module, args):
        x = args[0]
        if self.calibrating:
            a = x.detach().abs().max()
            prev = self.absmax.get(module)
            self.absmax[module] = a if prev is None else self.momentum * prev + (1 - self.momentum) * a
            return None
        s = (self.absmax[module] / self.qmax).clamp(min=1e-12)
        return (torch.clamp(torch.round(x / s), -self.qmax - 1, self.qmax) * s,) + tuple(args[1:])


# ---------------------------------------------------------------------------
# applying it: optimum-quanto, and the PT2E/X86 path
# ---------------------------------------------------------------------------


@torch.no_grad()
def apply_quantization(unet: torch.nn.Module, cfg: QuantConfig, batches: list[tuple]) -> torch.nn.Module:
    """A quantized copy of `unet`: quanto weights (and int8 or simulated activations, calibrated on `batches`)."""
    from optimum.quanto import Calibration, freeze, qint4, qint8, quantize

    q = copy.deepcopy(unet).eval()
    weights = {8: qint8, 4: qint4}[cfg.weight_bits]
    quantize(q, weights=weights, activations=qint8 if cfg.activation_bits == 8 else None)
    if cfg.activation_bits == 8:
        with Calibration():
            for x, t in batches:
                q(x, t)
    freeze(q)
    if cfg.activation_bits is not None and cfg.activation_bits < 8:
        fq = FakeQuantInputs(q, cfg.activation_bits)
        for x, t in batches:
            q(x, t)
        fq.calibrating = False
        q.fake_quant = fq  # keep the hooks' owner alive with the model
    return q


class _FloatTimestep(torch.nn.Module):
    """UNet2DModel -> (x, t) -> tensor, with a float timestep (PT2E's histogram observers reject int64 timesteps)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t):
        out = self.unet(x, t.float())
        return out.sample if hasattr(out, "sample") else out  # a user's model (UserNet) returns the tensor


@torch.no_grad()
def apply_pt2e(unet: torch.nn.Module, batches: list[tuple], compile: bool = True) -> torch.nn.Module:
    """int8 weights and activations through torch.export + X86InductorQuantizer + convert_pt2e, then torch.compile.

    Without `compile` the converted graph runs its quantize/dequantize pairs in float (a correctness check only).
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer, get_default_x86_inductor_quantization_config)

    wrapped = _FloatTimestep(copy.deepcopy(unet).eval())
    x, t = batches[0]
    auto = torch.export.Dim.AUTO
    exported = torch.export.export(wrapped, (x, t.float()), dynamic_shapes=({0: auto}, {0: auto})).module()
    quantizer = X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    for x, t in batches:
        prepared(x, t.float())
    converted = convert_pt2e(prepared)
    return torch.compile(converted) if compile else converted


class _Compiled(torch.nn.Module):
    """torch.compile of the fp32 teacher with the same float-timestep wrapper (PT2E's fair reference)."""

    def __init__(self, unet):
        super().__init__()
        self.net = torch.compile(_FloatTimestep(unet))

    def forward(self, x, t):
        return self.net(x, t)


class CastWeights(torch.nn.Module):
    """A copy of the model with its weights stored in `dtype` (bf16: half the fp32 bytes), fed and read in fp32.

    The training-free control on a user's model: what half the bytes cost without any integer scheme."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.net, self.dtype = copy.deepcopy(model).to(dtype).eval(), dtype
        self.sample_shape = getattr(model, "sample_shape", None)

    def forward(self, x, t):
        out = self.net(x.to(self.dtype), t)
        return (out.sample if hasattr(out, "sample") else out).float()


# ---------------------------------------------------------------------------
# the equal-cost baseline: an fp32 UNet with about the weight bytes of the W8 model
# ---------------------------------------------------------------------------

NARROW_NAME = "unet-narrow"
# The teacher's recipe (AdamW, warm-up, cosine decay, EMA, batch 64) on a shorter schedule: 2,500 of its
# 8,000 steps, because these weights were trained while several other training jobs shared the 2-core
# machine. Retraining with the teacher's full schedule: set steps=8000 here, then
# `python -m reference_impls.train narrow` (the key changes, so the demo picks the new weights up).
NARROW_TRAIN = replace(FULL_TRAIN, steps=2500)


def narrow_config(scale: Scale = DEFAULT_SCALE) -> dict:
    """Half the teacher's channels at every level: (8, 16, 24) at width 1, about 1/4 of its parameters."""
    cfg = model_config(scale)
    return dict(cfg, block_out_channels=tuple(c // 2 for c in cfg["block_out_channels"]))


def make_narrow(scale: Scale = DEFAULT_SCALE):
    from diffusers import UNet2DModel

    return UNet2DModel(**narrow_config(scale))


def narrow_key(scale: Scale = DEFAULT_SCALE) -> str:
    return config_hash(NARROW_NAME, digits_split(scale.image_size).data_hash, narrow_config(scale), SCHEDULE_CONFIG,
                       NARROW_TRAIN.to_dict())


def train_narrow(out: Path, force: bool = False, scale: Scale = DEFAULT_SCALE) -> Path:
    """`python -m reference_impls.train narrow`: train the equal-bytes baseline and save it to `out`."""
    key = narrow_key(scale)
    existing = verify_checkpoint(NARROW_NAME, key, out)
    if existing and not force:
        print(f"{NARROW_NAME}-{key} present in {out}; skipping (use --force)")
        return existing
    dev = pick_device()
    print(f"training {NARROW_NAME}-{key} on {dev}: {NARROW_TRAIN}", flush=True)
    model, info = train_diffusion(NARROW_TRAIN, dev, model=make_narrow(scale),
                                  log_every=0 if NARROW_TRAIN.steps < 1000 else 500)
    command = "python -m reference_impls.train narrow" + ("" if scale.is_default else " (trained on first use)")
    meta = training_meta(NARROW_TRAIN, command, info, narrow_config(scale), digits_split(scale.image_size).data_hash,
                         scale.image_size)
    path = save_checkpoint(model, NARROW_NAME, key, out, meta)
    print(f"saved {NARROW_NAME}-{key}: {info}", flush=True)
    return path


def load_narrow(device: torch.device, scale: Scale = DEFAULT_SCALE):
    """The narrow model (committed at the default scale; trained and cached on first use at any other)."""
    from ..core.paths import cache_dir

    path, where = find_checkpoint(NARROW_NAME, narrow_key(scale))
    if path is None:
        if scale.is_default:
            raise FileNotFoundError(f"no checkpoint for {NARROW_NAME}-{narrow_key(scale)}; "
                                    "run 'python -m reference_impls.train narrow'")
        path, where = train_narrow(cache_dir(), scale=scale), "trained now"
    return load_weights(make_narrow(scale), path).to(device).eval(), where


# ---------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------


def ddim_method(label: str, model, steps: int, role: str, extra: dict, base: Optional[dict] = None) -> harness.Method:
    """diffusers DDIM in `steps` steps with `model`; every row of the demo samples this way.
    `base`: a user model's scheduler config."""
    probe = make_scheduler("ddim", base=base)

    def fn(noise, seed, net):
        return harness.sample(net, make_scheduler("ddim", base=base), noise, steps=steps)

    return harness.Method(label, fn, steps, role, model=model, dtype="fp32",
                          extra=dict(extra, steps=steps, **describe(probe)))


@torch.no_grad()
def agreement_psnr(model, reference: torch.Tensor, noise: torch.Tensor, steps: int) -> float:
    """PSNR (dB, images in [-1, 1]) of `model`'s DDIM samples against the fp32 teacher's from the same noise."""
    net = harness.CountingModel(model)
    out = harness.sample(net, make_scheduler("ddim"), noise, steps=steps).clamp(-1, 1)
    mse = torch.mean((out - reference) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)


def run(params: dict, ctx: RunContext):
    # 1. models: the fp32 teacher or the user's fp32 model (full cost); on the teacher, the fp32 model of about the
    #    W8 model's bytes (equal cost); on a user's model no such model exists (see the module docstring)
    teacher, info, base, user_notes = model_for(ctx, params, teacher_for)
    user = base is not None
    scale = Scale(params["width"], params["image_size"])
    size, steps, notes = params["image_size"], params["steps"], []
    shape = harness.sample_shape(teacher, size) if user else None
    if not user:
        ctx.progress.report(0.0, "loading the equal-bytes fp32 model")
        narrow, narrow_where = load_narrow(ctx.device, scale)
    # 2. calibration states from the fp32 model's own DDIM trajectories (seeds disjoint from the measured ones)
    ctx.progress.report(0.01, "collecting calibration states along the fp32 trajectories")
    states = calibration_states(teacher, steps, params["calib_samples"], 10**7, ctx.device, size, base, shape)
    # 3. the quantized models, one per (scheme, calibration); calibration only matters with quantized activations
    configs = []
    for scheme in (params["schemes"] if "quanto" in params["paths"] else []):
        wb, ab = SCHEMES[scheme]
        for cal in (params["calibration"] if ab is not None else ["trajectory"]):
            configs.append(QuantConfig(wb, ab, cal))
    quantized = {}
    for i, cfg in enumerate(configs):
        ctx.progress.report(0.02 + 0.03 * i / len(configs), f"quantizing: {cfg.label}")
        started = time.perf_counter()
        quantized[cfg] = (apply_quantization(teacher, cfg, calibration_batches(states, cfg.calibration)),
                          time.perf_counter() - started)
    # 4. the PT2E int8 path (CPU, x86, torchao) and its fair reference, the compiled fp32 teacher
    pt2e_models = _pt2e_models(teacher, states, params, ctx, notes, user)
    # 5. on the teacher: agreement with its samples from the same noise (PSNR; on a user's model the harness
    #    scores every row this way itself)
    teacher_bytes = weight_bytes(teacher)
    if not user:
        ctx.progress.report(0.06, "agreement with the fp32 samples from the same noise")
        probe_noise = harness.make_noise(params["agreement_samples"], 10**7 + 1, ctx.device, size)
        reference = harness.sample(harness.CountingModel(teacher), make_scheduler("ddim"), probe_noise,
                                   steps=steps).clamp(-1, 1)

    def extra(net_model, **more):
        more = dict(more, bytes_ratio=round(teacher_bytes / weight_bytes(net_model), 2))
        if not user:
            more["psnr_vs_fp32_db"] = round(agreement_psnr(net_model, reference, probe_noise, steps), 2)
        return more

    # 6. methods: every row samples with the same DDIM sampler and steps
    name = "your model" if user else "teacher"
    full = ddim_method(f"fp32 {name}, DDIM {steps}", teacher, steps, "full-cost", {"model": f"{name} (fp32)"}, base)
    if user:  # the training-free control of half the bytes: a reference row, not an equal-cost baseline
        control = ddim_method(f"fp32 weights cast to bf16 (reference), DDIM {steps}", CastWeights(teacher), steps,
                              "reference", extra(CastWeights(teacher), model="your model, weights cast to bf16"), base)
    else:
        control = ddim_method(f"fp32 narrow (8/16/24 ch), DDIM {steps}", narrow, steps, "equal-cost",
                              extra(narrow, model=f"narrow fp32 ({narrow_where}, {NARROW_TRAIN.steps} training steps)"))
    methods = [full, control]
    for cfg, (model, seconds) in quantized.items():
        methods.append(ddim_method(f"{cfg.label}, DDIM {steps}", model, steps, "technique",
                                   extra(model, model=f"{name}, quantized", quantize_s=round(seconds, 2),
                                         weight_bits=cfg.weight_bits, activation_bits=cfg.activation_bits or "float",
                                         calibration=cfg.calibration if cfg.activation_bits else "n/a"), base))
    if pt2e_models:
        model, _ = pt2e_models["fp32"]
        methods.append(ddim_method(f"fp32 {name} compiled, DDIM {steps}", model, steps, "reference",
                                   {"model": f"{name} (fp32, torch.compile)"}, base))
        model, seconds = pt2e_models["int8"]
        methods.append(ddim_method(f"PT2E X86 W8A8 compiled, calib trajectory, DDIM {steps}", model, steps, "technique",
                                   dict(extra(model, model=f"{name}, PT2E int8", quantize_s=round(seconds, 2)),
                                        weight_bits=8, activation_bits=8, calibration="trajectory"), base))
    # 7. measure, all in one run, repeats interleaved (on a user's model: PSNR/SSIM against the full-cost row)
    measured = harness.measure_all(methods, teacher, ctx, params)
    # 8. verdicts: every quantized model against the fp32 model (on a user's model its PSNR/SSIM are that already)
    #    and against the control of about its bytes: the narrow fp32 model, or the bf16 cast of a user's model
    comparisons = []
    control_bytes = measured.row(control.label).weight_bytes
    for m in methods:
        if m.role != "technique":
            continue
        row = measured.row(m.label)
        ratio = control_bytes / row.weight_bytes
        what = "bf16 cast" if user else "narrow model"
        context = "" if 0.8 <= ratio <= 1.25 else f"NB: the {what} has {ratio:.1f}x this model's weight bytes"
        comparisons += measured.compare(m.label, full.label) + measured.compare(m.label, control.label, context)
    # 9. notes: what the bytes and the clock say here
    notes += _speed_notes(measured, full.label, ctx, teacher)
    if user:
        notes.append(USER_BASELINE_NOTE)
    else:
        notes.append(f"equal-cost baseline: fp32 UNet with block_out_channels "
                     f"{narrow_config(scale)['block_out_channels']}, {control_bytes / 1e3:.0f} kB, trained from scratch "
                     f"for {NARROW_TRAIN.steps} steps with the teacher's recipe (the teacher had {FULL_TRAIN.steps}); "
                     "so this baseline had less training than the quantized teacher and the comparison favours "
                     "quantization")
    if ctx.dtype != "fp32":
        notes.append(f"every row ran in fp32: --dtype {ctx.dtype} is ignored here (the comparison is integer vs fp32)")
    if any(cfg.activation_bits and cfg.activation_bits < 8 for cfg in configs):
        notes.append("* simulated activations: inputs of every quantized layer rounded to that many bits, computed "
                     "in float (no low-bit kernel); their time is not an integer kernel's")
    notes += user_notes
    return harness.result(measured, comparisons, params, notes=notes,
                          tables={"weight bytes and agreement": _table(measured, full.label, user)},
                          model=info if user else dict(info, narrow_key=narrow_key(scale),
                                                       narrow_weight_bytes=control_bytes),
                          equal_cost=USER_EQUAL_COST if user else
                          "an fp32 UNet of about the W8 model's weight bytes (half the channels), same DDIM sampler "
                          "and steps")


USER_EQUAL_COST = ("none on your model: an fp32 model of the quantized model's bytes would have to be trained on your "
                   "data; the fp32 weights cast to bf16 (half the bytes, no training) are a reference row instead")
USER_BASELINE_NOTE = ("no equal-cost baseline on your model: the project's (an fp32 UNet with about the W8 model's "
                      "bytes, trained from scratch with the same recipe) cannot exist without training a model on "
                      "your data, which this demo does not do, so that row is dropped. The reference row is a training-free "
                      "control instead: your fp32 weights cast to bf16 (half the bytes, computed in bf16); each "
                      "quantized row is compared with it (paired PSNR/SSIM over seeds), which says whether the integer "
                      "scheme agrees with fp32 better or worse than plain half precision, not whether a smaller model "
                      "trained for those bytes would do better")


def _pt2e_models(teacher, states, params: dict, ctx: RunContext, notes: list, user: bool) -> dict:
    """The PT2E int8 model and its compiled fp32 reference, or {} with the reason in `notes`."""
    if "pt2e" not in params["paths"]:
        return {}
    if not pt2e_available():
        notes.append("PT2E int8 path skipped: it needs torchao (torchao.quantization.pt2e; torch 2.13 no longer "
                     "ships torch.ao.quantization.quantize_pt2e). pip install 'diffatlas[quant]' (torchao) to run it.")
        return {}
    if ctx.device.type != "cpu":
        notes.append(f"PT2E int8 path skipped: X86InductorQuantizer targets x86 CPUs, not {ctx.device.type}")
        return {}
    ctx.progress.report(0.05, "PT2E: export, calibrate, convert (torch.compile happens at warm-up)")
    started = time.perf_counter()
    try:
        int8 = apply_pt2e(teacher, calibration_batches(states, "trajectory"))
    except Exception as exc:  # noqa: BLE001 - a user's network may not export; the run goes on without the row
        if not user:
            raise
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        notes.append(f"PT2E int8 path skipped: torch.export/prepare_pt2e failed on your model ({first})")
        return {}
    return {"int8": (int8, time.perf_counter() - started), "fp32": (_Compiled(teacher), 0.0)}


def _table(measured, full_label: str, user: bool) -> list[dict]:
    """Weight bytes and agreement with fp32 per row (on a user's model, the harness's PSNR/SSIM)."""
    full_bytes = measured.row(full_label).weight_bytes
    table = []
    for r in measured.rows:
        row = {"method": r.method, "weight_bytes": r.weight_bytes,
               "smaller_than_fp32": round(full_bytes / r.weight_bytes, 2)}
        if user:
            row.update(psnr_vs_fp32_db=None if r.psnr is None else round(r.psnr, 2),
                       ssim_vs_fp32=None if r.ssim is None else round(r.ssim, 4))
        else:
            row["psnr_vs_fp32_db"] = r.extra.get("psnr_vs_fp32_db")
        table.append(dict(row, speedup=round(r.speedup or 0.0, 2)))
    return table


def _conv_share(model: torch.nn.Module) -> float:
    """The share of the weights of the model's Conv2d and Linear layers that sits in Conv2d layers."""
    conv = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    return conv / max(conv + linear, 1)


def _speed_notes(measured, full_label: str, ctx: RunContext, model: torch.nn.Module) -> list[str]:
    full = measured.row(full_label)
    rows = [r for r in measured.rows if r.role == "technique"]
    if not rows:
        return []
    parts = ", ".join(f"{r.method.split(', DDIM')[0]} {full.weight_bytes / r.weight_bytes:.1f}x smaller and "
                      f"{r.speedup:.2f}x the speed" for r in rows if r.speedup)
    slower = all(r.speedup is not None and r.speedup < 1 for r in rows)
    head = ("Every quantized model was SLOWER than fp32 here" if slower else "Measured against the fp32 model")
    why = (": optimum-quanto 0.2.7 has an integer kernel only for linear layers, and a quantized convolution "
           f"({100 * _conv_share(model):.0f}% of this model's conv/linear weights) dequantizes its weight to float on "
           "every call (its fallback dispatch); integer activations add a rounding pass on top. The saving here is "
           "in bytes" if slower else "")
    if any(r.method.startswith("PT2E") for r in rows):
        why += " (PT2E: compare it with the compiled fp32 row, not the eager one)"
    return [f"{head} ({ctx.device.type}, {ctx.threads} threads){why}: {parts}."]


def _check(params: dict) -> None:
    if params["agreement_samples"] > params["n_samples"] * 4:
        raise ParamError(f"parameter 'agreement_samples': {params['agreement_samples']} is more than 4x n_samples; "
                         "the agreement check is a side measurement, keep it smaller (with --model it is not run: "
                         "set it to n_samples or less)")


DEMO = Demo(
    id="quantization",
    title="Post-training quantization: int8/int4 weights and activations (optimum-quanto, PT2E) vs fp32",
    summary="Quantize the trained UNet's convolutions and linears without retraining; quality, weight bytes and wall "
            "time against the fp32 model and an fp32 model of the same bytes.",
    nodes=("shen2025:algorithm.compression.quantization", "ma2024:part5.compression"),
    papers=("post-training-quantization-diffusion-2023", "q-diffusion-2023"),
    params=common(n_samples=(150, 500), seeds=(3, 4)) + (
        Param(name="steps", type=int, quick=5, full=20, lo=2, hi=1000, help="DDIM steps of every row"),
        Param(name="schemes", type=str, many=True, quick=["w8", "w4", "w8a8"],
              full=["w8", "w4", "w8a8", "w4a8", "w8a6"],
              choices=tuple(SCHEMES),
              help="weight/activation bits: w8 = int8 weights, float activations; a8 = int8 activations "
                   "(quanto); a6 = simulated 6-bit activations"),
        Param(name="calibration", type=str, many=True, quick=["trajectory", "first"], full=["trajectory", "first"],
              choices=CALIBRATIONS,
              help="calibration states for quantized activations: every sampler step, or only the first/last step"),
        Param(name="calib_samples", type=int, quick=64, full=256, lo=8, hi=4096,
              help="trajectories of the fp32 model whose states calibrate the activation scales"),
        Param(name="agreement_samples", type=int, quick=64, full=256, lo=8, hi=4096,
              help="samples compared with the fp32 teacher's from the same noise (PSNR)"),
        Param(name="paths", type=str, many=True, quick=["quanto"], full=["quanto", "pt2e"], choices=PATHS,
              help="quantizers: optimum-quanto, and PT2E X86 int8 + torch.compile (needs torchao; CPU only)"),
    ),
    run=run,
    check=_check,
    accepts_model=True,
    model_check=lambda params, folder: check_steps(params, folder, "steps"),
    smoke=dict(n_samples=50, seeds=2, steps=3, schemes=["w8", "w8a8"], calibration=["trajectory"], calib_samples=8,
               agreement_samples=8, batch=50),
    module=__name__,
    quick_seconds=24,  # measured 2026-12-02: diffatlas demo run quantization --quick, idle 2-core CPU, 2 threads
    full_seconds=358,  # measured: benchmarks/run_all.py, same machine (benchmarks/report-cpu.md)
    same_cost_per_nfe=False,
)
