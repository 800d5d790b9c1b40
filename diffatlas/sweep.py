"""Sweeps: a grid of demo runs (demos x parameter values x seeds x devices), resumable, local or on Ray.

A sweep is planned, checked, then executed:

1. **Plan.** A `SweepSpec` (from the command line or a small YAML file, validated with pydantic) expands
   into `Run`s: every demo entry's fixed overrides, times the cartesian product of its grid values,
   times the seeds and devices. Every run's parameters are checked with `diffatlas.demos.check`
   before anything runs, so a typo fails in one line, not an hour into a sweep.
2. **Key.** A run's key is a stable hash of what determines its result: demo, mode, the resolved
   parameters, seed, requested device, dtype, compile and model. Runs whose key is already in the
   results store are skipped: an interrupted sweep (Ctrl-C, a killed worker) loses only the runs
   that had not finished, and rerunning it does only those.
3. **Execute.** Each run is one pure call of `reference_impls.registry.run_demo`, in this process,
   in a pool of spawned processes (`local`), or as one Ray task (`ray`, the optional `cluster` extra);
   its result comes back to the driver and is recorded there, so a cluster's runs land in the
   driver's store. A failing run is one line in the summary; the others go on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

INSTALL_CLUSTER = 'pip install -e ".[cluster]"'
DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class SweepError(ValueError):
    """A sweep that cannot start: a bad file, field, demo, parameter or option; the message names the fix."""


# -- 1. The specification ---------------------------------------------------------------------------
class DemoEntry(BaseModel):
    """One demo of a sweep: fixed parameter overrides and the values to sweep (a cartesian product)."""

    model_config = ConfigDict(extra="forbid")
    demo: str = Field(description="a demo id, or 'all' for every registered demo")
    smoke: bool = Field(False, description="start from the demo's smoke overrides (seconds; for tests)")
    params: dict[str, Any] = Field(default_factory=dict, description="fixed overrides, as --param")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="parameter -> the values to sweep")

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, grid: dict) -> dict:
        for name, values in grid.items():
            if not values:
                raise ValueError(f"grid parameter {name!r} has no values; give at least one")
        return grid


class SweepSpec(BaseModel):
    """A whole sweep: its demos, and the seeds, devices and options every run of it shares."""

    model_config = ConfigDict(extra="forbid")
    runs: list[DemoEntry] = Field(min_length=1)
    mode: Literal["quick", "full"] = "quick"
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    devices: list[str] = Field(default_factory=lambda: ["auto"], min_length=1)
    dtype: str = "fp32"
    compile: bool = False
    model: Optional[str] = None

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError("seeds are non-negative integers (0 keeps the demos' own noise seeds)")
        return list(dict.fromkeys(seeds))

    @field_validator("devices")
    @classmethod
    def _devices(cls, devices: list[str]) -> list[str]:
        for name in devices:
            if not DEVICE_NAME.fullmatch(name.strip().lower()):
                raise ValueError(f"device {name!r} is not known; use auto, cpu, cuda, cuda:N or mps")
        return list(dict.fromkeys(d.strip().lower() for d in devices))


def load_spec(path: Path) -> SweepSpec:
    """A sweep file, read with the checked YAML loader and validated; SweepError names the file, field and fix."""
    from .yamlio import YamlError, load_yaml

    try:
        data = load_yaml(path)
    except YamlError as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise SweepError(f"{where}: {exc.prefix}{exc}; {exc.hint}") from None
    if not isinstance(data, dict):
        raise SweepError(f"{path}: a sweep file is a mapping with a 'runs:' list (see docs/sweeps.md)")
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise SweepError(f"{path}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError, fixes: bool = True) -> str:
    """The first pydantic error as 'field runs[0].grid: message; fix' (`fixes=False`: without the fix)."""
    err = exc.errors()[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "(top level)"
    message = err["msg"].removeprefix("Value error, ")
    advice = {"extra_forbidden": "remove it or fix its spelling (fields: runs, mode, seeds, devices, dtype, compile, "
                                "model; per run: demo, smoke, params, grid)",
             "missing": "add it", "literal_error": "use one of the values named"}
    fix = advice.get(err["type"], "see docs/sweeps.md for the file's fields")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"field {loc}: {message}; {fix}{more}" if fixes else f"{loc}: {message}{more}"


def grid_values(text: str) -> list[str]:
    """A command-line grid 'a,b,c' (one value each) or 'a,b|c' (points separated by '|', for list parameters)."""
    parts = text.split("|") if "|" in text else text.split(",")
    return [p.strip() for p in parts if p.strip()]


# -- 2. Runs and their keys -------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One run of a sweep: everything `run_demo` is called with. `out_dir` is where, not what: not in the key."""

    demo: str
    mode: str
    overrides: dict
    params: dict
    seed: int = 0
    device: str = "auto"
    dtype: str = "fp32"
    compile: bool = False
    model: Optional[str] = None
    out_dir: Optional[str] = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """A stable hash of what determines the result (never of where it is written)."""
        what = {"demo": self.demo, "mode": self.mode, "params": self.params, "seed": self.seed,
                "device": self.device, "dtype": self.dtype, "compile": self.compile, "model": self.model}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:20]

    def label(self) -> str:
        """'solvers n_samples=50 seed=1 cpu': the run in a line (its swept and fixed overrides)."""
        shown = " ".join(f"{k}={_short(v)}" for k, v in self.overrides.items())
        return " ".join(x for x in (self.demo, shown, f"seed={self.seed}", self.device) if x)


def _short(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def plan(spec: SweepSpec, *, check_device: bool = True, source: Optional[Path] = None) -> list[Run]:
    """Every run of the spec, each checked before anything runs; duplicates (same key) once.

    `check_device=False` checks a device's name only (a Ray cluster's GPUs need not be on the driver).
    `source` is the sweep file, named with the entry (runs[i]) in an error.
    """
    from . import demos

    runs: dict[str, Run] = {}
    for i, entry in enumerate(spec.runs):
        where = f"{source}: runs[{i}] " if source else ""
        for demo_id in _entry_demos(entry, where):
            base = dict(demos.get_demo(demo_id).smoke) if entry.smoke else {}
            base.update(entry.params)
            names = list(entry.grid)
            for values in itertools.product(*(entry.grid[n] for n in names)):
                overrides = dict(base, **dict(zip(names, values)))
                for device in spec.devices:
                    params = _checked(demo_id, spec, overrides, device, check_device, where)
                    for seed in spec.seeds:
                        run = Run(demo_id, spec.mode, overrides, params, seed, device, spec.dtype, spec.compile,
                                  spec.model)
                        runs.setdefault(run.key, run)
    return list(runs.values())


def _entry_demos(entry: DemoEntry, where: str) -> list[str]:
    from . import demos

    known = list(demos.registry())
    if entry.demo == "all":
        return known
    if entry.demo not in known:
        raise SweepError(f"{where}unknown demo {entry.demo!r}; known demos: {', '.join(sorted(known))}, or all")
    return [entry.demo]


def _checked(demo_id: str, spec: SweepSpec, overrides: dict, device: str, check_device: bool, where: str) -> dict:
    """The resolved parameters of one run; SweepError naming the demo entry, its overrides and the problem."""
    from . import demos

    try:
        return demos.check(demo_id, spec.mode, overrides, device if check_device else "cpu", spec.dtype)
    except demos.ParamError as exc:
        shown = " ".join([demo_id] + [f"{k}={_short(v)}" for k, v in overrides.items()])
        raise SweepError(f"{where}{shown} on {device}: {exc}") from None


# -- 3. One run, where it executes ------------------------------------------------------------------
def execute(run: Run, threads: Optional[int] = None) -> dict:
    """Run one demo (a pure call of run_demo) and return its result JSON; `threads` sets $DIFFATLAS_THREADS.

    This is what a worker process or a Ray task executes; it imports torch there, not on the driver.
    """
    if threads:
        os.environ["DIFFATLAS_THREADS"] = str(threads)
    from reference_impls import registry

    options: dict[str, Any] = {"device": run.device, "dtype": run.dtype, "compile": run.compile}
    if run.seed:  # seed 0 is the demos' own seeds; passed only when asked for
        options["seed"] = run.seed
    if run.model:
        options["model"] = run.model
    out = Path(run.out_dir) if run.out_dir else None
    result = registry.run_demo(run.demo, run.mode, dict(run.overrides), out_dir=out, **options)
    data = result.to_json()
    Path(result.out_dir, "result.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str),
                                                   encoding="utf-8")
    return data


def execute_safely(run: Run, threads: Optional[int] = None) -> tuple[str, Any]:
    """("ok", result JSON) or ("failed", one line): a failing run is reported, never a traceback."""
    try:
        return "ok", execute(run, threads)
    except Exception as exc:  # the run's own failure: its message goes into the summary
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return "failed", f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- 4. The driver: skip, dispatch, record, show progress -------------------------------------------
@dataclass
class Outcome:
    """What a sweep did: the counts, each failure's one line, and the result JSON of each recorded run."""

    planned: int = 0
    skipped: int = 0
    recorded: int = 0
    failed: list[dict] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)  # key -> result JSON (recorded in this sweep)
    run_ids: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    wall_s: float = 0.0
    backend: str = "local"
    db: str = ""

    def summary(self) -> dict:
        return {"planned": self.planned, "skipped": self.skipped, "recorded": self.recorded,
                "failed": self.failed, "interrupted": self.interrupted, "wall_s": round(self.wall_s, 1),
                "backend": self.backend, "db": self.db, "run_ids": self.run_ids}


class Display:
    """Counts on standard error: one line per change, rewritten in place on a terminal."""

    def __init__(self, total: int, skipped: int, stream=None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.skipped = total, skipped
        self.done = self.running = self.failed = 0
        self.last = ""

    def update(self, *, running: int, note: str = "") -> None:
        self.running = running
        queued = self.total - self.skipped - self.done - self.failed - running
        line = (f"sweep: {self.done} done, {running} running, {self.failed} failed, "
                f"{self.skipped} skipped, {queued} queued")
        if not self.enabled or (line == self.last and not note):
            return
        self.last = line
        if note:
            self._write(note, final=True)
        self._write(line, final=not self.tty)

    def _write(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run_sweep(runs: list[Run], store, *, backend: str = "local", workers: int = 1, address: Optional[str] = None,
              gpus_per_run: Optional[float] = None, cpus_per_run: int = 1, max_retries: int = 3,
              num_cpus: Optional[int] = None, show: bool = True, stream=None) -> Outcome:
    """Run every run whose key is not in `store`, record each result there as it arrives; return the outcome.

    Ctrl-C stops the sweep: what finished is recorded, the rest is left for the next run of the same sweep.
    """
    started = time.perf_counter()
    done_keys = store.keys()
    todo = [r for r in runs if r.key not in done_keys]
    outcome = Outcome(planned=len(runs), skipped=len(runs) - len(todo), backend=backend, db=str(store.path))
    display = Display(len(runs), outcome.skipped, stream, enabled=show)
    if show and outcome.skipped:
        display._write(f"sweep: {outcome.skipped} of {len(runs)} runs already in {store.path}; skipped", final=True)

    def arrived(run: Run, status: str, value: Any, running: int) -> None:
        if status == "ok":
            outcome.run_ids[run.key] = store.record(value, key=run.key)
            outcome.results[run.key] = value
            outcome.recorded += 1
            display.done += 1
            display.update(running=running)
        else:
            outcome.failed.append({"key": run.key, "run": run.label(), "error": value})
            display.failed += 1
            display.update(running=running, note=f"sweep: failed: {run.label()}: {value}")

    try:
        if not todo:
            pass
        elif backend == "ray":
            _run_ray(todo, arrived, display, address=address, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run,
                     max_retries=max_retries, num_cpus=num_cpus)
        elif workers > 1:
            _run_pool(todo, arrived, display, workers)
        else:
            _run_here(todo, arrived, display)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        display.close()
    outcome.wall_s = time.perf_counter() - started
    return outcome


Arrived = Callable[[Run, str, Any, int], None]


def _run_here(todo: list[Run], arrived: Arrived, display: Display) -> None:
    """Sequentially in this process (the demos' models and data stay loaded between runs)."""
    for i, run in enumerate(todo):
        display.update(running=1)
        status, value = execute_safely(run)
        arrived(run, status, value, 1 if i + 1 < len(todo) else 0)  # the next one starts at once


def _run_pool(todo: list[Run], arrived: Arrived, display: Display, workers: int) -> None:
    """In `workers` spawned processes sharing the cores ($DIFFATLAS_THREADS = cores // workers).

    At most `workers` runs are in flight, so 'running' is exact and Ctrl-C loses only those.
    A killed worker fails the runs it held; a new pool takes the rest.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    queue = list(todo)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    flight: dict = {}
    try:
        while queue or flight:
            while queue and len(flight) < workers:
                run = queue.pop(0)
                flight[pool.submit(execute_safely, run, threads)] = run
            display.update(running=len(flight))
            finished, _ = wait(flight, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                run = flight.pop(future)
                try:
                    status, value = future.result()
                except BrokenProcessPool:
                    status, value, broken = "failed", "its worker process died (killed or out of memory)", True
                arrived(run, status, value, len(flight))
            if broken:
                for future, run in list(flight.items()):
                    arrived(run, "failed", "its worker process died (killed or out of memory)", 0)
                flight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    except BaseException:  # Ctrl-C: do not wait for the runs in flight
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.terminate()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def ray_missing() -> Optional[str]:
    """One line naming the install command when Ray (the `cluster` extra) is not importable, else None."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return f"the ray backend needs Ray, which the base install leaves out; add it with {INSTALL_CLUSTER}"
    return None


def _run_ray(todo: list[Run], arrived: Arrived, display: Display, *, address: Optional[str],
             gpus_per_run: Optional[float], cpus_per_run: int, max_retries: int, num_cpus: Optional[int]) -> None:
    """One Ray task per run; results come back here and are recorded by `arrived`.

    With no address (and no $RAY_ADDRESS) Ray starts embedded with `num_cpus`; otherwise the tasks go to
    that cluster. A task lost with its worker is retried `max_retries` times; a run's own error is not.
    'running' is estimated as the pending tasks the cluster has room for.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    started_here = not ray.is_initialized()
    if started_here:
        options = {"address": address} if address else {"num_cpus": num_cpus or os.cpu_count() or 1}
        try:
            ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=False, **options)
        except Exception as exc:  # no cluster there, or one that wants a token: one line, not Ray's traceback
            raise SweepError(ray_connect_error(address, exc)) from None
    try:
        remote = ray.remote(execute_safely)
        pending = {}
        for run in todo:
            gpus = gpus_per_run if gpus_per_run is not None else (1 if run.device.startswith("cuda") else 0)
            task = remote.options(num_cpus=cpus_per_run, num_gpus=gpus, max_retries=max_retries)
            pending[task.remote(run, cpus_per_run)] = run
        room = _ray_room(ray, cpus_per_run)
        try:
            while pending:
                display.update(running=min(len(pending), room))
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=2.0)
                for ref in ready:
                    run = pending.pop(ref)
                    try:
                        status, value = ray.get(ref)
                    except Exception as exc:  # the task was lost more than max_retries times
                        status, value = "failed", f"Ray lost the task: {str(exc).strip().splitlines()[0]}"
                    arrived(run, status, value, min(len(pending), room))
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started_here:
            ray.shutdown()


def ray_connect_error(address: Optional[str], exc: BaseException) -> str:
    """Why Ray did not start or connect, and what to do (Ray >= 2.59 clusters use token authentication)."""
    text = " ".join(str(exc).split())[:300]
    if not address:
        return f"Ray could not start on this machine: {text}"
    hint = (f"check that the cluster is up (`ray status --address {address}` on this machine) and the address is "
            "the head's HEAD:6379")
    if "auth" in text.lower() or "token" in text.lower() or "Failed to connect" in text:
        hint += ("; a cluster started with `ray start` (Ray 2.59 or later) wants its token: set RAY_AUTH_MODE=token "
                 "and copy the head's ~/.ray/auth_token to this machine (or set RAY_AUTH_TOKEN); see docs/sweeps.md")
    return f"cannot use the Ray cluster at {address}: {text}; {hint}"


def _ray_room(ray, cpus_per_run: int) -> int:
    """How many runs the cluster can hold at once (its CPUs over the CPUs per run)."""
    cpus = ray.cluster_resources().get("CPU", 1)
    return max(1, int(cpus // max(cpus_per_run, 1)))


def status_of(runs: Iterable[Run], done_keys: set[str]) -> list[dict]:
    """For a dry run: each run's key, line and whether the store already holds it."""
    return [{"key": r.key, "run": r.label(), "done": r.key in done_keys, "demo": r.demo, "seed": r.seed,
             "device": r.device, "overrides": r.overrides} for r in runs]
