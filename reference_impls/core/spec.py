"""What a demo declares: its parameters, its taxonomy nodes and papers, and its run().

Each demo module ends with `DEMO = Demo(...)`. Parameters are declared with
keywords, each with its quick and full value, its bounds and why it is there
(nanoGPT's config style); the parameters every demo shares (samples, seeds,
batch, and the substrate's scale) are declared once, in `common()`.
`Demo.resolve` parses and checks every value, then `Demo.check` applies the
demo's cross-parameter rules, all before anything heavy loads. Every error is
a `ParamError` naming the parameter, the value and what is allowed.

torch-free, so the command line can list and check demos cheaply.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .progress import Progress
    from .result import DemoResult


class ParamError(ValueError):
    """A demo parameter, option or device is unknown, of the wrong type, or out of range."""


MIN_SAMPLES = 50       # per seed on the project's model: FD and KID need a covariance and a kernel mean
MIN_SAMPLES_USER = 2   # per seed on a user's model (PSNR/SSIM per image): a large model on a CPU affords few
SEED_MAX = 10**6  # base seeds 0..SEED_MAX: the noise seeds 1000 * seed + k stay far below the harness's cost-pass seeds


def check_samples(params: dict, user_model: bool) -> None:
    """FD and KID need MIN_SAMPLES per seed; only a run on a user's model (PSNR/SSIM) may take fewer."""
    n = params.get("n_samples")
    if not user_model and n is not None and n < MIN_SAMPLES:
        raise ParamError(f"parameter 'n_samples': {n} is out of range [{MIN_SAMPLES}, 20000] on the project's model "
                         f"(FD and KID need {MIN_SAMPLES} or more); fewer only with your own model (--model)")


def check_seed(seed) -> int:
    """The base noise seed as an int in [0, SEED_MAX]; ParamError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        try:
            seed = int(str(seed).strip())
        except ValueError:
            raise ParamError(f"option 'seed': {seed!r} is not an integer; allowed: [0, {SEED_MAX}]") from None
    if not 0 <= seed <= SEED_MAX:
        raise ParamError(f"option 'seed': {seed} is out of range [0, {SEED_MAX}]")
    return seed


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True, kw_only=True)
class Param:
    name: str
    type: type                      # int, float, str or bool
    quick: Any
    full: Any
    help: str
    lo: Optional[float] = None
    hi: Optional[float] = None
    choices: Optional[tuple] = None
    many: bool = False              # a comma-separated list of values

    def bounds(self) -> str:
        if self.type is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices)) + (" (comma-separated)" if self.many else "")
        lo = "-inf" if self.lo is None else _num(self.lo)
        hi = "inf" if self.hi is None else _num(self.hi)
        return f"[{lo}, {hi}]" + (" (comma-separated)" if self.many else "")

    def _one(self, value: Any) -> Any:
        where = f"parameter {self.name!r}"
        if self.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ParamError(f"{where}: {value!r} is not a boolean; use true/false, yes/no or 1/0")
        if self.type is int:
            if isinstance(value, bool):
                raise ParamError(f"{where}: {value!r} is not an integer; allowed: {self.bounds()}")
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            try:
                v = int(str(value).strip()) if not isinstance(value, int) else value
            except ValueError:
                raise ParamError(f"{where}: {value!r} is not an integer; allowed: {self.bounds()}") from None
        elif self.type is float:
            if isinstance(value, bool):
                raise ParamError(f"{where}: {value!r} is not a number; allowed: {self.bounds()}")
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ParamError(f"{where}: {value!r} is not a number; allowed: {self.bounds()}") from None
            if not math.isfinite(v):
                raise ParamError(f"{where}: {value!r} is not a finite number; allowed: {self.bounds()}")
        else:
            v = str(value).strip()
        if self.choices and v not in self.choices:
            raise ParamError(f"{where}: {v!r} is not allowed; use {self.bounds()}")
        if self.type in (int, float) and ((self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi)):
            raise ParamError(f"{where}: {_num(v)} is out of range {self.bounds()}")
        return v

    def parse(self, value: Any) -> Any:
        """Convert a string or value to this parameter's type and check it; lists for `many`."""
        if not self.many:
            if isinstance(value, (list, tuple)):
                raise ParamError(f"parameter {self.name!r} takes one value, not a list; allowed: {self.bounds()}")
            return self._one(value)
        items = list(value) if isinstance(value, (list, tuple)) else [s for s in str(value).replace(" ", "").split(",") if s]
        if not items:
            raise ParamError(f"parameter {self.name!r}: give at least one value; allowed: {self.bounds()}")
        return list(dict.fromkeys(self._one(item) for item in items))  # a repeated value is measured once

    @property
    def kind(self) -> str:
        """The type's name, plural for lists ('int', 'floats', ...): for display and JSON."""
        return self.type.__name__ + ("s" if self.many else "")


def _num(v) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def common(*, n_samples: tuple[int, int], seeds: tuple[int, int], batch: tuple[int, int] = (250, 500)) -> tuple[Param, ...]:
    """The parameters every demo has: how much is sampled, and the substrate's scale."""
    return (
        Param(name="n_samples", type=int, quick=n_samples[0], full=n_samples[1], lo=MIN_SAMPLES_USER, hi=20000,
              help=f"samples per seed (FD and KID need many, at least {MIN_SAMPLES}; their floor depends on it; "
                   f"PSNR/SSIM on your own model need fewer, at least {MIN_SAMPLES_USER})"),
        Param(name="seeds", type=int, quick=seeds[0], full=seeds[1], lo=1, hi=20,
              help="noise seeds, shared by every method; each is one timing repeat and one unit of the paired statistics"),
        Param(name="batch", type=int, quick=batch[0], full=batch[1], lo=1, hi=8192,
              help="batch size per network call (the warm-up runs at this size)"),
        Param(name="width", type=int, quick=1, full=1, lo=1, hi=16,
              help="model width multiplier (1 = the committed 16/32/48-channel UNet; larger trains on first use: a GPU experiment)"),
        Param(name="image_size", type=int, quick=16, full=16, choices=(16, 32),
              help="digits upsampled to this size (16 = the committed weights; 32 trains on first use)"),
    )


@dataclass
class RunContext:
    """What a demo's run() receives besides its parameters."""

    device: "torch.device"
    progress: "Progress"
    out_dir: Path
    mode: str
    dtype: str = "fp32"
    compile: bool = False
    threads: int = 1
    seed: int = 0                       # base noise seed: the run's noise seeds are 1000 * seed + k
    model_path: Optional[Path] = None   # a user's diffusers model folder (demos with accepts_model)


@dataclass(frozen=True, kw_only=True)
class Demo:
    id: str
    title: str
    summary: str
    nodes: tuple[str, ...]
    papers: tuple[str, ...]
    params: tuple[Param, ...]
    run: Callable[[dict, RunContext], "DemoResult"]
    module: str
    quick_seconds: float  # measured: the quick configuration on the shared 2-core CPU, 2 threads, warm cache
    full_seconds: float   # measured: benchmarks/run_all.py on the same CPU
    check: Optional[Callable[[dict], None]] = None  # cross-parameter rules; raise ParamError
    smoke: dict = field(default_factory=dict)         # overrides of the quick config that the tests run (seconds)
    same_cost_per_nfe: bool = True  # False when methods change the cost of one evaluation (cache, prune, runtime)
    accepts_model: bool = False     # runs on a user's diffusers model folder (`--model DIR`): training-free techniques
    model_check: Optional[Callable[[dict, Any], None]] = None  # (params, usermodel.ModelFolder): raise ParamError

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
        """Defaults for `mode`, overridden, every value parsed and checked, then the cross-parameter rules."""
        params = self.defaults(mode)
        for name, value in (overrides or {}).items():
            params[name] = self.param(name).parse(value)
        params = {name: self.param(name).parse(value) for name, value in params.items()}
        if self.check:
            self.check(params)
        return params

    def source_path(self) -> Path:
        return Path(importlib.import_module(self.module).__file__)
