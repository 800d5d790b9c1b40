"""The registry: how the CLI, the app, the benchmark and the taxonomy find demos.

Each demo module defines a `DEMO = Demo(...)` naming its id, title, the
taxonomy nodes ("shen2025:algorithm.sampling.solver") and catalog paper ids it
demonstrates, its parameters (type, quick and full values, bounds) and a
`run(params, ctx)` function. `run_demo` validates the parameters, picks the
device, calls the demo with progress and cancellation, stamps the result with
the environment, and records it in the results store.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

DEMO_MODULES = ("solvers", "scheduling", "truncated", "distillation")


class ParamError(ValueError):
    """A demo parameter is unknown, of the wrong type, or out of range."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "int", "float", "str", "bool", or a comma-separated list: "ints", "floats", "strs"
    quick: Any
    full: Any
    help: str
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[tuple] = None

    def bounds(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices)) + (" (comma-separated)" if self.kind == "strs" else "")
        lo = "-inf" if self.min is None else self.min
        hi = "inf" if self.max is None else self.max
        return f"[{lo}, {hi}]"

    def parse(self, value: Any) -> Any:
        """Convert a string or value to this parameter's type and check its range."""
        try:
            if self.kind == "int":
                v = int(value)
            elif self.kind == "float":
                v = float(value)
            elif self.kind == "bool":
                v = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
            elif self.kind == "ints":
                items = value if isinstance(value, (list, tuple)) else [s for s in str(value).replace(" ", "").split(",") if s]
                v = [int(s) for s in items]
                if not v:
                    raise ValueError("empty list")
            elif self.kind == "floats":
                items = value if isinstance(value, (list, tuple)) else [s for s in str(value).replace(" ", "").split(",") if s]
                v = [float(s) for s in items]
                if not v:
                    raise ValueError("empty list")
            elif self.kind == "strs":
                items = value if isinstance(value, (list, tuple)) else [s for s in str(value).replace(" ", "").split(",") if s]
                v = [str(s) for s in items]
                if not v:
                    raise ValueError("empty list")
            else:
                v = str(value)
        except (TypeError, ValueError) as exc:
            raise ParamError(f"parameter {self.name!r}: {value!r} is not a valid {self.kind} ({exc})") from None
        values = v if isinstance(v, list) else [v]
        for item in values:
            if self.choices and item not in self.choices:
                raise ParamError(f"parameter {self.name!r}: {item!r} is not allowed; use {self.bounds()}")
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                if (self.min is not None and item < self.min) or (self.max is not None and item > self.max):
                    raise ParamError(f"parameter {self.name!r}: {item} is out of range {self.bounds()}")
        return v


@dataclass
class RunContext:
    """What a demo's run() receives besides its parameters."""

    device: Any
    progress: Any
    out_dir: Path
    mode: str


@dataclass(frozen=True)
class Demo:
    id: str
    title: str
    summary: str
    nodes: tuple[str, ...]
    papers: tuple[str, ...]
    params: tuple[Param, ...]
    run: Callable[[dict, RunContext], dict]
    module: str
    quick_seconds: float  # measured on the shared 2-core reference CPU, warm start, 1 torch thread
    full_seconds: float

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParamError(f"demo {self.id!r} has no parameter {name!r}; it has {', '.join(p.name for p in self.params)}")

    def defaults(self, mode: str = "quick") -> dict:
        if mode not in ("quick", "full"):
            raise ParamError(f"mode must be 'quick' or 'full', not {mode!r}")
        return {p.name: (p.quick if mode == "quick" else p.full) for p in self.params}

    def resolve(self, mode: str = "quick", overrides: Optional[dict] = None) -> dict:
        params = self.defaults(mode)
        for name, value in (overrides or {}).items():
            params[name] = self.param(name).parse(value)
        for name, value in params.items():
            self.param(name).parse(value)  # defaults are checked too
        return params

    def source_path(self) -> Path:
        return Path(importlib.import_module(self.module).__file__)


_REGISTRY: dict[str, Demo] = {}


def registry() -> dict[str, Demo]:
    if not _REGISTRY:
        for name in DEMO_MODULES:
            demo = importlib.import_module(f"reference_impls.{name}").DEMO
            _REGISTRY[demo.id] = demo
    return dict(_REGISTRY)


def get_demo(demo_id: str) -> Demo:
    demos = registry()
    if demo_id not in demos:
        raise ParamError(f"unknown demo {demo_id!r}; known demos: {', '.join(sorted(demos))}")
    return demos[demo_id]


def demos_for_node(taxonomy: str, node_id: str) -> list[Demo]:
    ref = f"{taxonomy}:{node_id}"
    return [d for d in registry().values() if ref in d.nodes]


def demos_for_paper(paper_id: str) -> list[Demo]:
    return [d for d in registry().values() if paper_id in d.papers]


def run_demo(demo_id: str, mode: str = "quick", overrides: Optional[dict] = None, device: Optional[str] = None,
             progress: Optional[Callable[[float, str], None]] = None, should_stop: Optional[Callable[[], bool]] = None,
             out_dir: Optional[Path] = None, record: bool = True, db_path: Optional[Path] = None) -> dict:
    """Validate, run, stamp and (by default) record one demo run; return its result."""
    from . import harness, metrics, substrate

    demo = get_demo(demo_id)
    params = demo.resolve(mode, overrides)
    dev = substrate.pick_device(device)
    substrate.set_threads()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = Path(out_dir) if out_dir else substrate.cache_dir() / "runs" / f"{demo.id}-{stamp}-{time.time_ns() % 10**6:06d}"
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(dev, harness.Progress(progress, should_stop), out, mode)
    started = time.perf_counter()
    result = demo.run(params, ctx)
    result.update(
        demo=demo.id, title=demo.title, mode=mode, params=params, nodes=list(demo.nodes), papers=list(demo.papers),
        device=harness.device_name(dev), device_type=dev.type, versions=harness.versions(),
        git=harness.git_revision(), created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        duration_s=time.perf_counter() - started, out_dir=str(out), **metrics.classifier_info(),
    )
    if progress:
        progress(1.0, "done")
    if record:
        from diffatlas.results import ResultsStore

        result["run_id"] = ResultsStore(db_path).record(result)
    return result
