"""The quick-run estimate comes from measured runs on this device, else the declared figure; a busy machine is said."""

from __future__ import annotations

from types import SimpleNamespace

from diffatlas.results import ResultsStore
from diffatlas.runtime_estimate import busy_note, quick_estimate, stored_estimate

DEVICE = "CPU Test (2 cores)"
DEMO = SimpleNamespace(id="caching", quick_seconds=30, params=[SimpleNamespace(name="seeds", quick=3)])


def run(duration, mode="quick", device=DEVICE, params=None):
    return {"demo": "caching", "mode": mode, "device": device, "duration_s": duration,
            "params": {"seeds": 3} if params is None else params}


def test_declared_without_runs():
    estimate = quick_estimate(DEMO, [], DEVICE)
    assert (estimate.seconds, estimate.measured, estimate.text()) == (30, False, "~30s (declared)")


def test_median_of_the_last_quick_default_runs_on_this_device():
    rows = [run(60), run(100), run(70), run(500, mode="full"), run(900, device="NVIDIA GPU"),
            run(800, params={"seeds": 9}), run(65), run(62), run(10_000)]  # newest first; the 6th quick one is too old
    estimate = quick_estimate(DEMO, rows, DEVICE)
    assert estimate.runs == 5 and estimate.seconds == 65
    assert estimate.text() == "~65s (median of the last 5 quick runs here)"
    assert quick_estimate(DEMO, [run(200)], DEVICE).text() == "~3.3 min (the last quick run here)"


def test_from_the_results_store(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    for seconds in (40.0, 50.0, 90.0):
        store.record({"demo": "caching", "mode": "quick", "device": DEVICE, "duration_s": seconds,
                      "params": {"seeds": 3}, "rows": []})
    assert stored_estimate(DEMO, DEVICE, store).seconds == 50.0
    assert not stored_estimate(DEMO, "another device", store).measured


def test_busy_note_only_above_the_core_count():
    assert busy_note(load=1.9, cores=2) is None
    note = busy_note(load=3.5, cores=2)
    assert note and "busy" in note and "3.5 on 2 cores" in note and "\n" not in note
