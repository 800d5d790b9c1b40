"""The measuring harness shared by every demo.

* `CountingModel` wraps the network: it counts network evaluations (NFE per
  sample = calls on the full batch) and times the time spent inside the
  network, synchronising CUDA before reading the clock, so NFE and sampler
  overhead are measured, not trusted from a configuration.
* `sample` is the one sampling loop every diffusers scheduler goes through
  (`set_timesteps` / `scale_model_input` / `step`).
* `measure` runs one method over several noise seeds (each seed is also a
  timing repeat), reports the median wall time and the spread, NFE, network
  share, peak memory and the quality metrics as mean and seed-to-seed std.
* `compare` turns a list of measured rows into ratios against the full-cost
  baseline and verdicts against the equal-cost baseline, measured in the same
  run. A difference smaller than the seed-to-seed spread is reported as "no
  difference".
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from . import metrics, substrate


class Cancelled(Exception):
    """Raised inside a demo when its caller asked it to stop."""


class Progress:
    """Progress reporting and cancellation, passed to every demo's run().

    `report(fraction, message)` forwards to the caller's callback; `check()`
    raises `Cancelled` when the caller's `should_stop()` says so. Demos call
    `check()` between network evaluations, so a cancel takes effect quickly.
    """

    def __init__(self, callback: Optional[Callable[[float, str], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None):
        self.callback = callback
        self.should_stop = should_stop
        self.fraction = 0.0
        self.span = (0.0, 1.0)

    def stage(self, start: float, end: float) -> "Progress":
        self.span = (start, end)
        return self

    def report(self, fraction: float, message: str = "") -> None:
        lo, hi = self.span
        self.fraction = lo + (hi - lo) * max(0.0, min(1.0, fraction))
        if self.callback:
            self.callback(self.fraction, message)
        self.check()

    def check(self) -> None:
        if self.should_stop and self.should_stop():
            raise Cancelled("cancelled by the user")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class CountingModel(torch.nn.Module):
    """Wraps a UNet2DModel-like network; counts calls and the samples they carry."""

    def __init__(self, model: torch.nn.Module, progress: Optional[Progress] = None):
        super().__init__()
        self.model = model
        self.progress = progress
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.samples = 0
        self.net_seconds = 0.0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        if self.progress:
            self.progress.check()
        device = x.device
        if not torch.is_tensor(t):
            t = torch.tensor(t)
        t = t.to(device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        sync(device)
        start = time.perf_counter()
        out = self.model(x, t).sample
        sync(device)
        self.net_seconds += time.perf_counter() - start
        self.calls += 1
        self.samples += x.shape[0]
        return out


@torch.no_grad()
def sample(net: CountingModel, scheduler, noise: torch.Tensor, steps: Optional[int] = None,
           timesteps: Optional[list[int]] = None, generator: Optional[torch.Generator] = None,
           on_step: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
    """Run a diffusers scheduler from `noise` (standard normal) to x0."""
    if timesteps is not None:
        scheduler.set_timesteps(timesteps=list(timesteps), device=noise.device)
    else:
        scheduler.set_timesteps(steps, device=noise.device)
    x = noise * scheduler.init_noise_sigma
    ts = scheduler.timesteps
    kwargs = {"generator": generator} if generator is not None and _accepts_generator(scheduler) else {}
    for i, t in enumerate(ts):
        model_in = scheduler.scale_model_input(x, t)
        out = net(model_in, t)
        x = scheduler.step(out, t, x, return_dict=True, **kwargs).prev_sample
        if on_step:
            on_step(i + 1, len(ts))
    return x


def _accepts_generator(scheduler) -> bool:
    import inspect

    return "generator" in inspect.signature(scheduler.step).parameters


def make_noise(n: int, seed: int, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (n, 1, substrate.IMAGE_SIZE, substrate.IMAGE_SIZE)
    return torch.randn(shape, generator=gen).to(device)


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        try:  # Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM)
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "CUDA allocator peak"
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "process peak RSS"
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process peak RSS (lifetime)"


# ---------------------------------------------------------------------------
# measuring a method
# ---------------------------------------------------------------------------


@dataclass
class Method:
    """One way of producing samples: `fn(noise, seed, counter) -> images`."""

    label: str
    fn: Callable[[torch.Tensor, int, CountingModel], torch.Tensor]
    expected_nfe: Optional[int] = None
    role: str = "technique"  # "baseline" (full cost), "equal-cost", "technique", "reference"
    info: dict = field(default_factory=dict)


def measure(method: Method, model: torch.nn.Module, n: int, seeds: list[int], device: torch.device,
            batch: int, progress: Optional[Progress] = None, grid_dir: Optional[Path] = None,
            with_pr: bool = False) -> dict:
    """Run `method` once per seed on n samples (in batches); time, count and score it."""
    counter = CountingModel(model, progress)
    walls, net_share, qualities, nfes = [], [], [], []
    reset_peak_memory(device)
    first_images = None
    for si, seed in enumerate(seeds):
        counter.reset()
        chunks = []
        sync(device)
        start = time.perf_counter()
        for b0 in range(0, n, batch):
            m = min(batch, n - b0)
            noise = make_noise(m, seed * 100003 + b0, device)
            with torch.no_grad():
                chunks.append(method.fn(noise, seed * 100003 + b0, counter).float().cpu())
            if progress:
                progress.report((si + (b0 + m) / n) / len(seeds), f"{method.label}: seed {si + 1}/{len(seeds)}")
        sync(device)
        wall = time.perf_counter() - start
        images = torch.cat(chunks)
        if first_images is None:
            first_images = images
        walls.append(wall)
        net_share.append(counter.net_seconds / wall if wall > 0 else float("nan"))
        nfes.append(counter.samples / n)
        qualities.append(metrics.quality(images, with_pr=with_pr and si == 0))
    peak, peak_kind = peak_memory_mb(device)
    fds = [q["fd"] for q in qualities]
    row = {
        "method": method.label,
        "role": method.role,
        "nfe": nfes[0],
        "nfe_expected": method.expected_nfe,
        "wall_s": statistics.median(walls),
        "wall_s_min": min(walls),
        "wall_s_max": max(walls),
        "wall_s_all": walls,
        "ms_per_sample": 1000 * statistics.median(walls) / n,
        "overhead_share": 1.0 - statistics.median(net_share),
        "fd": float(np.mean(fds)),
        "fd_std": float(np.std(fds, ddof=1)) if len(fds) > 1 else 0.0,
        "fd_all": fds,
        "confidence": float(np.mean([q["confidence"] for q in qualities])),
        "coverage": float(np.mean([q["coverage"] for q in qualities])),
        "class_entropy": float(np.mean([q["class_entropy"] for q in qualities])),
        "peak_mem_mb": peak,
        "peak_mem_kind": peak_kind,
        **{k: v for k, v in method.info.items()},
    }
    if with_pr and "precision" in qualities[0]:
        row["precision"], row["recall"] = qualities[0]["precision"], qualities[0]["recall"]
    if grid_dir is not None and first_images is not None:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in method.label)
        row["grid"] = str(metrics.save_grid(first_images, grid_dir / f"{safe}.png"))
    return row


def warm_up(model: torch.nn.Module, device: torch.device, batch: int) -> None:
    """One forward pass at the working batch size (allocator, kernels, caches)."""
    with torch.no_grad():
        x = make_noise(min(batch, 64), 0, device)
        model(x, torch.full((x.shape[0],), 500, device=device))
    sync(device)


def compare(rows: list[dict], baseline: str) -> list[dict]:
    """Add speedup and quality ratios against the full-cost baseline row."""
    base = next(r for r in rows if r["method"] == baseline)
    for r in rows:
        r["speedup"] = base["wall_s"] / r["wall_s"] if r["wall_s"] > 0 else float("nan")
        r["nfe_ratio"] = base["nfe"] / r["nfe"] if r["nfe"] else float("nan")
        r["fd_ratio"] = r["fd"] / base["fd"] if base["fd"] > 0 else float("nan")
    return rows


def provenance(rows: list[dict], model: torch.nn.Module, source: str, **model_extra) -> dict:
    """The 'model' and 'checks' entries every demo result carries: which weights, and NFE honesty."""
    return {
        "model": {"source": source, "parameters": substrate.count_parameters(model), "key": substrate.teacher_key(),
                  **model_extra},
        "checks": {"nfe_counted_equals_expected": all(r["nfe"] == r["nfe_expected"] for r in rows)},
    }


def noise_band(a: dict, b: dict) -> float:
    """The seed-to-seed spread below which two FDs are not told apart."""
    return max(a.get("fd_std", 0.0), b.get("fd_std", 0.0))


def verdict(tech: dict, ref: dict, what: str = "") -> str:
    """'better' / 'worse' / 'no difference' for FD, with the numbers."""
    band = noise_band(tech, ref)
    diff = tech["fd"] - ref["fd"]
    if len(tech.get("fd_all", [])) < 2 or len(ref.get("fd_all", [])) < 2:
        qual = "single seed, spread unknown"
        word = "lower" if diff < 0 else "higher"
        return f"{tech['method']} FD {tech['fd']:.1f} vs {ref['method']} {ref['fd']:.1f} ({word}; {qual}){what}"
    if abs(diff) <= band:
        return (f"{tech['method']} vs {ref['method']}: no difference (FD {tech['fd']:.1f} vs {ref['fd']:.1f}, "
                f"difference {abs(diff):.1f} within the seed spread {band:.1f}){what}")
    word = "better" if diff < 0 else "worse"
    return (f"{tech['method']} is {word} than {ref['method']}: FD {tech['fd']:.1f} vs {ref['fd']:.1f} "
            f"(difference {abs(diff):.1f} > seed spread {band:.1f}){what}")


# ---------------------------------------------------------------------------
# environment
# ---------------------------------------------------------------------------


def git_revision() -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {cpu} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def versions() -> dict:
    import diffusers
    import sklearn

    return {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__, "platform": platform.platform()}
