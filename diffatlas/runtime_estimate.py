"""How long a demo's quick run takes here: measured when the results store has runs, declared otherwise.

A demo declares `quick_seconds` (what it took once on an idle 2-core CPU), but on
a busy machine quick runs took two to four times that. The estimate therefore
prefers what was measured: the median recorded `duration_s` of the last few
quick runs of that demo, with its default quick parameters, on this device. Only
without such runs does it fall back to the declared figure, and says so.
`busy_note` adds the one thing the user also needs to know: the machine is
loaded right now, so this run will take longer still.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

LAST_RUNS = 5


@dataclass(frozen=True)
class Estimate:
    seconds: float
    runs: int  # measured runs the median is over; 0 when declared

    @property
    def measured(self) -> bool:
        return self.runs > 0

    def text(self) -> str:
        """'~42s (median of the last 3 quick runs here)' or '~30s (declared)'."""
        if not self.measured:
            return f"~{_seconds(self.seconds)} (declared)"
        runs = "the last quick run here" if self.runs == 1 else f"median of the last {self.runs} quick runs here"
        return f"~{_seconds(self.seconds)} ({runs})"


def _seconds(value: float) -> str:
    return f"{value:.0f}s" if value < 120 else f"{value / 60:.1f} min"


def quick_estimate(demo, past_runs: list[dict], device: str | None, last: int = LAST_RUNS) -> Estimate:
    """The estimate for `demo` from store rows (newest first, as ResultsStore.runs gives them) on `device`."""
    defaults = {p.name: p.quick for p in demo.params}
    durations = [r["duration_s"] for r in past_runs
                 if r.get("demo", demo.id) == demo.id and r.get("mode") == "quick" and r.get("duration_s")
                 and (device is None or r.get("device") == device) and r.get("params") == defaults][:last]
    if not durations:
        return Estimate(float(demo.quick_seconds), 0)
    return Estimate(float(statistics.median(durations)), len(durations))


def stored_estimate(demo, device: str | None, store=None) -> Estimate:
    """quick_estimate over the results store (the default one unless given); an unreadable store gives the declared figure."""
    from .results import ResultsStore, ResultsStoreError

    try:
        store = store or ResultsStore()
        return quick_estimate(demo, store.runs(demo.id, limit=50), device)
    except (ResultsStoreError, OSError):
        return Estimate(float(demo.quick_seconds), 0)


def this_device(requested: str | None = "auto") -> str | None:
    """The device description results record for a run on `requested` here (imports torch), None if unknown."""
    try:
        from reference_impls.core.device import pick_device
        from reference_impls.core.environment import device_name

        return device_name(pick_device(requested))
    except Exception:  # noqa: BLE001 (an unavailable device only means no measured estimate)
        return None


def busy_note(load: float | None = None, cores: int | None = None) -> str | None:
    """One line when the 1-minute load average exceeds the core count (runs then take longer), else None."""
    cores = cores or os.cpu_count() or 1
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # not on every platform
            return None
    if load <= cores:
        return None
    return (f"This machine is busy right now (load {load:.1f} on {cores} cores): "
            "runs will take longer than the estimate and timings will be noisier.")
