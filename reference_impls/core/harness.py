"""The measuring harness: one method loop for every demo.

The protocol (`measure_all`), in the order it runs:

1. Warm up every model at the working batch size (allocator, kernels, caches).
2. Repeats, interleaved: seed k of every method runs before seed k+1 of any,
   in a shuffled order, so a burst of load on a shared machine spreads over
   all methods instead of landing on one. Every method gets the same noise
   for a seed. `CountingModel` counts network evaluations (NFE per sample =
   samples carried / samples made) and the time inside the network,
   synchronising the device before reading the clock.
3. Cost beyond NFE, once per method: FLOPs of producing one sample
   (`torch.utils.flop_counter.FlopCounterMode`, every aten op of network and
   sampler; work done outside torch, such as a NumPy prior, is not counted),
   and batch-1 latency (one sample alone, end to end).
4. Scores: FD and KID of every (method, seed) on the live classifier
   features; any two rows compare by paired per-seed differences (`stats.py`).
   On a user's model (fidelity mode, `ctx.model_path`) there is no classifier:
   every (method, seed) gets the mean per-image PSNR and the SSIM of its
   output against the full-cost method's output from the same noise
   (`metrics.psnr`, `metrics.ssim`; data range 2), rows carry psnr/ssim and
   their standard errors over seeds (none on the full-cost row: it is the
   reference), and comparisons are PSNR and SSIM differences, paired over the
   seeds, where higher is better (the verdict of `stats.paired`, written for
   lower-is-better, is turned round). Noise has the model's own sample shape.
5. Rows: median per-sample wall and network time over the repeats and their
   spread; a spread above `SPREAD_LIMIT` marks the row "timing unreliable"
   (machine busy). Speed-ups are ratios to the full-cost row of the same run.

A `Method` is one way of producing samples: `fn(noise, seed, net) -> images`,
its expected NFE, its role, and optionally its own model and precision.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from . import metrics, stats
from .data import IMAGE_SIZE
from .device import DTYPES, sync
from .model import count_parameters, weight_bytes
from .progress import Progress
from .result import HIGHER_IS_BETTER, Comparison, DemoResult, Row
from .spec import RunContext

FIDELITY_METRICS = ("psnr", "ssim")
# "No detectable difference" in fidelity mode: the interval within +-0.5 dB PSNR or +-0.01 SSIM (a choice: about
# the smallest change the caching and quantization papers report as a difference)
FIDELITY_MARGINS = {"psnr": 0.5, "ssim": 0.01}
HIGHER_FLIP = {"better": "worse", "worse": "better"}  # stats.paired reads a positive difference as worse
COST_SEED = 10**15  # the cost pass's noise seeds (COST_SEED + i) lie above every timed seed (seed * 100003 + b0)
MIN_TIMED_SECONDS = 0.05  # a repeat shorter than this is timer and scheduler noise, not load: its spread is not flagged
SPREAD_LIMIT = 0.5  # (max - min) / median of repeats: one repeat slowed by half. Identical short quick-run repeats on an idle 2-core machine here spread up to ~0.35; a burst of load on one method doubles its time (spread >= 1)


class CountingModel(torch.nn.Module):
    """Wraps a UNet2DModel-like network: counts calls and the samples they carry, times them, applies autocast."""

    def __init__(self, model: torch.nn.Module, progress: Optional[Progress] = None, dtype: str = "fp32"):
        super().__init__()
        self.model = model
        self.progress = progress
        self.dtype = dtype
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.samples = 0
        self.net_seconds = 0.0

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        if self.progress:
            self.progress.check()
        device = x.device
        t = (t if torch.is_tensor(t) else torch.tensor(t)).to(device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=DTYPES[self.dtype], enabled=self.dtype != "fp32"):
            out = self.model(x, t)
        out = (out.sample if hasattr(out, "sample") else out).float()
        sync(device)
        self.net_seconds += time.perf_counter() - start
        self.calls += 1
        self.samples += x.shape[0]
        return out


@torch.no_grad()
def sample(net, scheduler, x: torch.Tensor, *, steps: Optional[int] = None, timesteps: Optional[list[int]] = None,
           begin: int = 0, end: Optional[int] = None, from_noise: bool = True,
           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Run a diffusers scheduler over its steps [begin, end) from state x.

    `from_noise`: x is standard normal noise at the first step and is scaled by the
    scheduler's `init_noise_sigma`; otherwise x is a state of the chain (mid-chain start).
    """
    if timesteps is not None:
        scheduler.set_timesteps(timesteps=list(timesteps), device=x.device)
    else:
        scheduler.set_timesteps(steps, device=x.device)
    if begin and hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    if from_noise and begin == 0:
        x = x * scheduler.init_noise_sigma
    kwargs = {"generator": generator} if generator is not None and _accepts_generator(scheduler) else {}
    for t in scheduler.timesteps[begin:end]:
        out = net(scheduler.scale_model_input(x, t), t)
        x = scheduler.step(out, t, x, return_dict=True, **kwargs).prev_sample
    return x


def _accepts_generator(scheduler) -> bool:
    import inspect

    return "generator" in inspect.signature(scheduler.step).parameters


def make_noise(n: int, seed: int, device: torch.device, size: int = IMAGE_SIZE,
               shape: Optional[tuple] = None) -> torch.Tensor:
    """n standard normal samples of one channel at `size`, or of `shape` (channels, height, width)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, *(shape or (1, size, size))), generator=gen).to(device)


def sample_shape(model: torch.nn.Module, size: int = IMAGE_SIZE) -> tuple[int, int, int]:
    """(channels, height, width) of one sample: a user's model says it (`usermodel.UserNet`), the digits are 1 x size^2."""
    return tuple(getattr(model, "sample_shape", (1, size, size)))


def warm_up(model: torch.nn.Module, device: torch.device, batch: int, size: int = IMAGE_SIZE,
            dtype: str = "fp32", shape: Optional[tuple] = None) -> None:
    """Two forward passes at the working batch size (allocator, kernels, caches, compilation)."""
    net = CountingModel(model, dtype=dtype)
    t = 500 if shape is None else 0  # a user's schedule may have fewer than 500 training steps
    with torch.no_grad():
        for _ in range(2):
            net(make_noise(batch, 0, device, size, shape), torch.full((batch,), t, device=device))


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "CUDA allocator peak during the method's runs"
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024, "whole-process peak RSS during the method's runs (includes libraries)"
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "whole-process peak RSS since start"


# ---------------------------------------------------------------------------
# the method loop
# ---------------------------------------------------------------------------


@dataclass
class Method:
    """One way of producing samples: `fn(noise, seed, net) -> images` in [-1, 1]."""

    label: str
    fn: Callable[[torch.Tensor, int, CountingModel], torch.Tensor]
    nfe: float                                   # expected network evaluations per sample
    role: str = "technique"                      # full-cost | equal-cost | technique | reference
    model: Optional[torch.nn.Module] = None      # None: the run's model
    dtype: Optional[str] = None                  # None: the run's precision
    extra: dict = field(default_factory=dict)    # shown as columns (spacing, steps, ...)
    grid: bool = True                            # save the first seed's samples as a PNG
    report: Optional[Callable[[], dict]] = None  # extra columns known only after the runs

    def __post_init__(self):
        if self.role not in ("full-cost", "equal-cost", "technique", "reference"):
            raise ValueError(f"method {self.label!r}: unknown role {self.role!r}")


@dataclass
class Measured:
    """The rows of one run, with the per-seed scores behind them, for paired comparisons."""

    rows: list[Row]
    anchors: dict

    def row(self, label: str) -> Row:
        return next(r for r in self.rows if r.method == label)

    @property
    def fidelity(self) -> bool:
        return bool(self.anchors.get("fidelity"))

    def compare(self, technique: str, reference: str, context: str = "") -> list[Comparison]:
        """FD and KID (or, on a user's model, PSNR and SSIM) of `technique` against `reference`, paired over
        the run's seeds. In fidelity mode a comparison with the full-cost row is none: the row's own PSNR and
        SSIM already are its agreement with that row's output."""
        ref, tech = self.row(reference), self.row(technique)
        if self.fidelity and ref.role == "full-cost":
            return []
        out = []
        for metric in (FIDELITY_METRICS if self.fidelity else ("fd", "kid")):
            ref_value = getattr(ref, metric)
            if self.fidelity:
                margin = FIDELITY_MARGINS[metric]
            else:
                margin = stats.margin_for(ref_value, self.anchors.get(f"{metric}_floor_sd", 0.0))
            iv = stats.paired(getattr(tech, f"{metric}_seeds"), getattr(ref, f"{metric}_seeds"), margin)
            verdict = HIGHER_FLIP.get(iv.verdict, iv.verdict) if metric in HIGHER_IS_BETTER else iv.verdict
            out.append(Comparison(
                technique=technique, reference=reference,
                reference_role=ref.role if ref.role != "technique" else "reference", metric=metric,
                technique_value=getattr(tech, metric), reference_value=ref_value, difference=iv.difference,
                ci_low=iv.low, ci_high=iv.high, verdict=verdict, margin=margin, seeds=iv.seeds,
                n_samples=tech.n_samples, context=context))
        return out


def noise_seeds(base: int, count: int) -> list[int]:
    """The run's noise seeds: 1000 * base + k for k < count (base 0 gives 0..count-1, the seeds of every
    committed run). Each seed's batches draw noise from seed * 100003 + the batch's first index."""
    return [1000 * base + k for k in range(count)]


def _cost(method: Method, net: CountingModel, device, size: int, seed: int,
          shape: Optional[tuple] = None) -> tuple[float, float]:
    """FLOPs of one sample (every aten op) and its batch-1 latency in ms."""
    from torch.utils.flop_counter import FlopCounterMode

    noise = make_noise(1, seed, device, size, shape)
    with torch.no_grad():
        sync(device)
        start = time.perf_counter()
        method.fn(noise, seed, net)
        sync(device)
        latency = 1000 * (time.perf_counter() - start)
        counter = FlopCounterMode(display=False)
        with counter:
            method.fn(noise, seed, net)
    return float(counter.get_total_flops()), latency


def measure_all(methods: list[Method], model: torch.nn.Module, ctx: RunContext, params: dict,
                costs: bool = True) -> Measured:
    """Measure every method on the same seeds, interleaved; score and time them (see the module docstring).

    On a user's model (`ctx.model_path`) there is no classifier: each (method, seed) is scored by PSNR and
    SSIM against the full-cost method's output from the same noise (fidelity mode)."""
    n, batch, size = params["n_samples"], min(params["batch"], params["n_samples"]), params.get("image_size", IMAGE_SIZE)
    fidelity = ctx.model_path is not None
    shape = sample_shape(model, size) if fidelity else None
    full_label = next((m.label for m in methods if m.role == "full-cost"), None)
    if fidelity and full_label is None:
        raise ValueError("fidelity mode needs a full-cost method: its output is every other method's reference")
    seeds = noise_seeds(ctx.seed, params["seeds"])
    device, progress = ctx.device, ctx.progress
    base = progress.fraction
    labels = [m.label for m in methods]
    if len(set(labels)) != len(labels):
        raise ValueError(f"method labels must be unique: {labels}")

    # 1. models: the run's or the method's own, compiled once each if asked, warmed up at the working batch
    compiled: dict[int, torch.nn.Module] = {}
    for m in methods:
        net_model = m.model if m.model is not None else model
        if id(net_model) not in compiled:
            compiled[id(net_model)] = torch.compile(net_model) if ctx.compile else net_model
            warm_up(compiled[id(net_model)], device, batch, size, m.dtype or ctx.dtype, shape)
    nets = {m.label: CountingModel(compiled[id(m.model if m.model is not None else model)], progress,
                                   m.dtype or ctx.dtype) for m in methods}
    if ctx.compile:  # compiled graphs specialise on shapes and timestep types: run every method once, untimed
        for m in methods:
            progress.report(0.0, f"compiling for {m.label}")
            for warm in (batch, 1):
                with torch.no_grad():
                    m.fn(make_noise(warm, 7, device, size, shape), 7, nets[m.label])

    # 2. interleaved repeats: every method's seed k before any method's seed k+1, shuffled
    weight = {m.label: max(m.nfe, 1.0) for m in methods}
    total, done = sum(weight.values()) * len(seeds), 0.0
    span = 0.95 - base
    feats = {m.label: [] for m in methods}
    probs = {m.label: [] for m in methods}
    agree = {m.label: {"psnr": [], "ssim": []} for m in methods}
    walls = {m.label: [] for m in methods}
    net_times = {m.label: [] for m in methods}
    nfes = {m.label: [] for m in methods}
    peaks = {m.label: (0.0, "") for m in methods}
    grid_dir = Path(ctx.out_dir) / "grids"
    grids: dict[str, str] = {}
    for k, seed in enumerate(seeds):
        outputs: dict[str, torch.Tensor] = {}  # fidelity mode: this seed's outputs, scored against the full-cost one
        order = list(methods)
        random.Random(1000 + k).shuffle(order)
        for m in order:
            net = nets[m.label]
            net.reset()
            reset_peak_memory(device)
            chunks = []
            sync(device)
            start = time.perf_counter()
            for b0 in range(0, n, batch):
                noise = make_noise(min(batch, n - b0), seed * 100003 + b0, device, size, shape)
                with torch.no_grad():
                    chunks.append(m.fn(noise, seed * 100003 + b0, net).float().cpu())
                progress.stage(base + span * done / total, base + span * (done + weight[m.label]) / total)
                progress.report((b0 + noise.shape[0]) / n, f"{m.label}: seed {k + 1}/{len(seeds)}")
            sync(device)
            wall = time.perf_counter() - start
            done += weight[m.label]
            images = torch.cat(chunks)
            if fidelity:
                outputs[m.label] = images
            else:
                f, p = metrics.embed(images)
                feats[m.label].append(metrics.live(f))
                probs[m.label].append(p)
            walls[m.label].append(1000 * wall / n)
            net_times[m.label].append(1000 * net.net_seconds / n)
            nfes[m.label].append(net.samples / n)
            peak = peak_memory_mb(device)
            if peak[0] >= peaks[m.label][0]:
                peaks[m.label] = peak
            if k == 0 and m.grid:
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in m.label)
                grids[m.label] = str(metrics.save_grid(images, grid_dir / f"{safe}.png"))
        for label, images in outputs.items():
            if label != full_label:
                agree[label]["psnr"].append(metrics.psnr(images, outputs[full_label]))
                agree[label]["ssim"].append(metrics.ssim(images, outputs[full_label]))

    extras = {m.label: dict(m.extra, **(m.report() if m.report else {})) for m in methods}

    # 3. cost beyond NFE, once per method, after the repeats (so a method's own counters see only the repeats)
    progress.stage(0.95, 0.98)
    cost = {m.label: (None, None) for m in methods}
    if costs:
        for i, m in enumerate(methods):
            cost[m.label] = _cost(m, nets[m.label], device, size, COST_SEED + i, shape)
            progress.report((i + 1) / len(methods), f"counting FLOPs and batch-1 latency: {m.label}")

    # 4. scores per (method, seed)
    progress.stage(0.98, 0.99).report(0.0, "scoring (PSNR, SSIM)" if fidelity else "scoring (FD, KID)")
    fd_seeds = {m.label: [metrics.fd(f) for f in feats[m.label]] for m in methods}
    kid_seeds = {m.label: [metrics.kid(f) for f in feats[m.label]] for m in methods}

    # 5. rows
    rows = []
    for m in methods:
        ms = walls[m.label]
        med = statistics.median(ms)
        spread = (max(ms) - min(ms)) / med if len(ms) > 1 and med > 0 else 0.0
        cls = [metrics.class_stats(p) for p in probs[m.label]]
        net_model = m.model if m.model is not None else model
        extra = extras[m.label]
        if fidelity and m.label == full_label:
            extra = dict(extra, agreement="the reference: every other row's PSNR/SSIM is against this row's output")
        rows.append(Row(
            method=m.label, role=m.role, nfe=nfes[m.label][0], nfe_expected=m.nfe, n_samples=n, seeds=len(seeds),
            fd=_mean(fd_seeds[m.label]), fd_se=_se(fd_seeds[m.label]), fd_seeds=fd_seeds[m.label],
            kid=_mean(kid_seeds[m.label]), kid_se=_se(kid_seeds[m.label]), kid_seeds=kid_seeds[m.label],
            psnr=_mean(agree[m.label]["psnr"]), psnr_se=_se(agree[m.label]["psnr"]), psnr_seeds=agree[m.label]["psnr"],
            ssim=_mean(agree[m.label]["ssim"]), ssim_se=_se(agree[m.label]["ssim"]), ssim_seeds=agree[m.label]["ssim"],
            confidence=_mean([c["confidence"] for c in cls]),
            coverage=int(round(np.mean([c["coverage"] for c in cls]))) if cls else None,
            class_entropy=_mean([c["class_entropy"] for c in cls]),
            ms_per_sample=med, ms_per_sample_all=ms, net_ms_per_sample=statistics.median(net_times[m.label]),
            time_spread=spread, timing_unreliable=spread > SPREAD_LIMIT and med * n / 1000 >= MIN_TIMED_SECONDS,
            overhead_share=max(0.0, 1.0 - statistics.median(net_times[m.label]) / med) if med > 0 else 0.0,
            latency_ms=cost[m.label][1], flops_per_sample=cost[m.label][0],
            parameters=count_parameters(net_model), weight_bytes=weight_bytes(net_model),
            peak_mem_mb=peaks[m.label][0], peak_mem_kind=peaks[m.label][1], grid=grids.get(m.label), extra=extra))
        if len(set(nfes[m.label])) > 1:
            rows[-1].extra["nfe_per_seed"] = nfes[m.label]
    full = next((r for r in rows if r.role == "full-cost"), rows[0])
    for r in rows:
        r.speedup = full.ms_per_sample / r.ms_per_sample if r.ms_per_sample > 0 else None
        r.nfe_ratio = full.nfe / r.nfe if r.nfe else None
        r.flops_ratio = full.flops_per_sample / r.flops_per_sample if r.flops_per_sample and full.flops_per_sample else None
    progress.report(1.0, "scored")
    return Measured(rows, fidelity_anchors(n, shape, full_label) if fidelity else metrics.anchors(n, size))


def _mean(values: list) -> Optional[float]:
    """Mean over seeds; None when the run did not score this (FD in fidelity mode, PSNR of the reference)."""
    return float(np.mean(values)) if values else None


def _se(values: list) -> Optional[float]:
    return stats.standard_error(values) if values else None


def fidelity_anchors(n: int, shape: tuple, reference: str) -> dict:
    """The 'anchors' of a fidelity run: what its scores are measured against (no floor or ceiling here)."""
    return {"fidelity": True, "samples": n, "reference": reference, "sample_shape": list(shape),
            "data_range": metrics.FIDELITY_RANGE, "psnr_cap": metrics.PSNR_CAP, "margins": dict(FIDELITY_MARGINS)}


def model_info(model: torch.nn.Module, source: str, key: str, **extra) -> dict:
    """The 'model' entry of a result: which weights, how big."""
    return {"source": source, "parameters": count_parameters(model), "weight_bytes": weight_bytes(model), "key": key,
            **extra}


def result(measured: Measured, comparisons: list[Comparison], params: dict, *, equal_cost: str, model: dict,
           notes: Optional[list[str]] = None, tables: Optional[dict] = None) -> DemoResult:
    """Assemble a DemoResult with the anchors at the run's size."""
    return DemoResult.of(measured.rows, comparisons, measured.anchors, equal_cost=equal_cost, model=model,
                         notes=notes, tables=tables)
