"""The registry: how the command line, the app and the benchmark find and run demos.

`DEMO_MODULES` is the one explicit list of demo modules. `run_demo` checks
the parameters and options (before anything heavy loads), picks the device,
fixes the thread count, calls the demo with progress and cancellation, and
stamps the `DemoResult` with where and how it ran. Recording it in the
results store is the caller's job (`diffatlas.demos.run_and_record`), so this
package never imports diffatlas.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Callable, Optional

from .core.spec import Demo, ParamError, check_samples, check_seed

DEMO_MODULES = (
    "sampling.solvers",
    "sampling.scheduling",
    "sampling.truncated",
    "sampling.distillation",
    "system.runtime",
    "system.caching",
    "system.parallel",
    "architecture.backbone",
    "compression.pruning",
    "compression.quantization",
    "design.guidance",
    "design.latent",
)
DTYPE_NAMES = ("fp32", "bf16", "fp16")

_REGISTRY: dict[str, Demo] = {}


def registry() -> dict[str, Demo]:
    if not _REGISTRY:
        for name in DEMO_MODULES:
            demo = importlib.import_module(f"reference_impls.{name}").DEMO
            if demo.id != name.rsplit(".", 1)[-1]:
                raise RuntimeError(f"demo id {demo.id!r} must equal its module name {name!r}")
            _REGISTRY[demo.id] = demo
    return dict(_REGISTRY)


def get_demo(demo_id: str) -> Demo:
    demos = registry()
    if demo_id not in demos:
        raise ParamError(f"unknown demo {demo_id!r}; known demos: {', '.join(sorted(demos))}")
    return demos[demo_id]


def check_options(dtype: str = "fp32", device: Optional[str] = None, seed: int = 0, model: Optional[str] = None,
                  demo: Optional[Demo] = None, params: Optional[dict] = None) -> int:
    """Harness-wide options, checked before anything heavy loads; returns the seed as an int.

    `model` (a user's diffusers folder) is checked only for a demo that accepts one; its folder is
    checked by `core.usermodel.check_model_dir` (config files only, no weights loaded)."""
    if dtype not in DTYPE_NAMES:
        raise ParamError(f"option 'dtype': {dtype!r} is not one of {', '.join(DTYPE_NAMES)}")
    seed = check_seed(seed)
    if model is not None and demo is not None:
        if not demo.accepts_model:
            takers = sorted(d.id for d in registry().values() if d.accepts_model)
            raise ParamError(f"option 'model': demo {demo.id!r} runs only on the project's own model; "
                             f"demos that take your model: {', '.join(takers) or 'none yet'}")
        from .core.usermodel import check_model_dir

        folder = check_model_dir(model)
        if demo.model_check:
            demo.model_check(params or demo.defaults(), folder)
    check_samples(params or {}, model is not None)
    from .core.device import pick_device

    pick_device(device)
    return seed


def run_demo(demo_id: str, mode: str = "quick", overrides: Optional[dict] = None, device: Optional[str] = None,
             progress: Optional[Callable[[float, str], None]] = None, should_stop: Optional[Callable[[], bool]] = None,
             out_dir: Optional[Path] = None, dtype: str = "fp32", compile: bool = False, seed: int = 0,
             model: Optional[str] = None):
    """Check, run and stamp one demo run; return its DemoResult (not recorded).

    `seed` is the base noise seed (noise seeds 1000 * seed + k; 0 keeps the committed runs' seeds);
    `model` a folder saved with diffusers' save_pretrained, for a demo that accepts one."""
    demo = get_demo(demo_id)
    params = demo.resolve(mode, overrides)
    seed = check_options(dtype, device, seed, model, demo, params)
    from .core import environment, metrics, paths
    from .core.device import pick_device, set_threads
    from .core.progress import Progress
    from .core.spec import RunContext

    dev = pick_device(device)
    threads = set_threads()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = Path(out_dir) if out_dir else paths.runs_dir() / f"{demo.id}-{stamp}-{time.time_ns() % 10**6:06d}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(dev, Progress(progress, should_stop), out, mode, dtype, compile, threads, seed,
                     Path(model) if model is not None else None)
    started = time.perf_counter()
    result = demo.run(params, ctx)
    result.demo, result.title, result.mode, result.params = demo.id, demo.title, mode, params
    result.options = {"device": device or "auto", "dtype": dtype, "compile": compile}
    result.nodes, result.papers = list(demo.nodes), list(demo.papers)
    result.device, result.device_type = environment.device_name(dev), dev.type
    result.threads, result.dtype, result.compiled = threads, dtype, compile
    result.versions, result.git = environment.versions(), environment.git_revision()
    result.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result.duration_s = time.perf_counter() - started
    result.out_dir = str(out)
    result.classifier = metrics.classifier_info() if model is None else {}
    result.seed, result.machine = seed, environment.machine_info()
    if progress:
        progress(1.0, "done")
    return result
