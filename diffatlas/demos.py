"""The one door from diffatlas to the reference implementations.

The command line, the app and the benchmark list, run and record demos
through these functions; `reference_impls` never imports diffatlas, and a run
is recorded in the results store here and nowhere else. torch is imported
only when a demo is listed or run.

torch, diffusers and the rest are the optional `demos` extra: without them the
catalog, the command line and the app work, and everything here that needs
them raises DemosNotInstalled, whose message is the one command that adds them.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

from reference_impls.core.result import DemoResult
from reference_impls.core.spec import ParamError, check_seed  # torch-free

__all__ = ["ParamError", "check_seed", "DemoResult", "DemosNotInstalled", "missing_demos_note", "registry", "get_demo", "check",
           "run_and_record", "load_result"]

# The `demos` extra of pyproject.toml (import name: distribution name), and the command that installs it.
DEMO_PACKAGES = {"torch": "torch", "diffusers": "diffusers", "peft": "peft", "safetensors": "safetensors",
                 "torch_pruning": "torch-pruning", "optimum.quanto": "optimum-quanto",
                 "torchmetrics": "torchmetrics"}
INSTALL_DEMOS = 'pip install -e ".[demos]"'


class DemosNotInstalled(ImportError):
    """The demos' packages are not installed; the message says which and how to add them."""


def missing_demo_packages() -> list[str]:
    """The packages of the `demos` extra that cannot be imported here (imports them: torch is slow)."""
    import importlib

    missing = []
    for module, distribution in DEMO_PACKAGES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(distribution)
    return missing


def missing_demos_note() -> Optional[str]:
    """One line naming the missing packages and the install command, or None when the demos can run."""
    missing = missing_demo_packages()
    if not missing:
        return None
    return (f"the demos need {', '.join(missing)}, which the base install leaves out; add them with "
            f"{INSTALL_DEMOS} (see the README's 'Start the app' for a CPU-only machine)")


@contextmanager
def demos_installed():
    """Turn the ImportError of a missing demo package (the registry imports them lazily) into
    DemosNotInstalled; any other ImportError passes unchanged."""
    try:
        yield
    except DemosNotInstalled:
        raise
    except ImportError as exc:
        note = missing_demos_note()
        if note is None:
            raise
        raise DemosNotInstalled(note) from exc


def _registry_module():
    from reference_impls import registry as reg

    return reg


def registry() -> dict:
    with demos_installed():
        return _registry_module().registry()


def get_demo(demo_id: str):
    with demos_installed():
        return _registry_module().get_demo(demo_id)


def check(demo_id: str, mode: str = "quick", overrides: Optional[dict] = None, device: Optional[str] = None,
          dtype: str = "fp32", seed: int = 0, model: Optional[str] = None) -> dict:
    """Parse and check a demo's parameters and options (the base seed, a user's model folder) without
    running it; ParamError on a bad one."""
    with demos_installed():
        reg = _registry_module()
        demo = reg.get_demo(demo_id)
        params = demo.resolve(mode, overrides)
        reg.check_options(dtype, device, seed, model, demo, params)
    return params


def run_and_record(demo_id: str, mode: str = "quick", overrides: Optional[dict] = None, *, device: Optional[str] = None,
                   dtype: str = "fp32", compile: bool = False, progress: Optional[Callable[[float, str], None]] = None,
                   should_stop: Optional[Callable[[], bool]] = None, out_dir: Optional[Path] = None,
                   record: bool = True, db_path: Optional[Path] = None, seed: int = 0,
                   model: Optional[str] = None) -> DemoResult:
    """Run one demo and record it. The result is written to its run folder first, so a store that
    cannot take it (locked, corrupt, read-only) never loses a finished run. `seed` is the base noise
    seed, `model` a user's diffusers model folder (see `reference_impls.registry.run_demo`)."""
    with demos_installed():
        result = _registry_module().run_demo(demo_id, mode, overrides, device=device, progress=progress,
                                             should_stop=should_stop, out_dir=out_dir, dtype=dtype, compile=compile,
                                             seed=seed, model=model)
    saved = Path(result.out_dir) / "result.json"
    saved.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True), encoding="utf-8")
    if record:
        from .results import ResultsStore

        try:
            result.run_id = ResultsStore(db_path).record(result)
        except Exception as exc:  # the run is safe in result.json; say where
            print(f"[diffatlas] the run could not be recorded in the results store ({exc}); "
                  f"its result is in {saved}", file=sys.stderr)
    return result


def load_result(data: dict) -> DemoResult:
    """A stored result as a DemoResult; ValueError for one recorded by an older harness."""
    return DemoResult.from_json(data)


class BackgroundRun:
    """One demo run in a thread: progress, cancellation and the outcome, shared with a page.

    The app's Demos page starts one per browser session; the page only reads
    `fraction`, `message`, `running`, `result`, `cancelled` and `error`.
    """

    def __init__(self, demo_id: str, mode: str, params: dict, **options):
        import threading
        import time

        self.demo_id, self.mode, self.params, self.options = demo_id, mode, params, options
        self.fraction, self.message = 0.0, "starting"
        self.result: Optional[DemoResult] = None
        self.error: Optional[BaseException] = None
        self.cancelled = False
        self._stop = threading.Event()
        self.started = time.time()
        self.thread = threading.Thread(target=self._run, name=f"demo-{demo_id}", daemon=True)
        self.thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message

    def _run(self) -> None:
        from reference_impls.core.progress import Cancelled

        try:
            self.result = run_and_record(self.demo_id, self.mode, self.params, progress=self._progress,
                                         should_stop=self._stop.is_set, **self.options)
        except Cancelled:
            self.cancelled = True
        except Exception as exc:  # shown on the page
            self.error = exc

    def cancel(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()
