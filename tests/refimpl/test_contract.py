"""Every registered demo, run for real on the committed weights in its smoke configuration.

One contract for every member (diffusers' SchedulerCommonTest in spirit):
the result is a DemoResult that survives a JSON round trip; the full-cost
baseline, the equal-cost baseline and the technique are measured in the same
run; metrics are finite; NFE counted equals NFE expected; FLOPs follow NFE;
every comparison is paired with an interval and a verdict; findings are
generated; the run is written to its folder and recorded in the store.
Asserts structure and honesty, not literature claims (the smoke size is far
too small for those).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from diffatlas import demos
from diffatlas.results import ResultsStore
from reference_impls import registry
from reference_impls.core.result import ROLES, DemoResult

pytestmark = pytest.mark.slow
DEMO_IDS = [m.rsplit(".", 1)[-1] for m in registry.DEMO_MODULES]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return tmp_path_factory.mktemp("results") / "results.sqlite"


@pytest.mark.parametrize("demo_id", DEMO_IDS)
def test_smoke_configuration_honours_the_contract(demo_id, store_path, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    demo = registry.get_demo(demo_id)
    assert demo.smoke, f"demo {demo_id} declares no smoke configuration for the tests"
    seen = []
    result = demos.run_and_record(demo_id, "quick", demo.smoke, device="cpu", progress=lambda f, m: seen.append(f),
                                  out_dir=tmp_path / "run", db_path=store_path)
    assert isinstance(result, DemoResult)
    rows = {r.method: r for r in result.rows}
    roles = {r.role for r in result.rows}
    assert {"full-cost", "equal-cost", "technique"} <= roles <= set(ROLES), roles
    assert result.baseline == result.rows[0].method and result.rows[0].role == "full-cost"
    assert result.threads >= 1 and result.dtype == "fp32" and result.git and result.versions["torch"]
    per_nfe = set()
    for r in result.rows:
        for key in ("fd", "kid", "ms_per_sample", "confidence", "time_spread"):
            assert math.isfinite(getattr(r, key)), (r.method, key)
        assert r.nfe == r.nfe_expected, (r.method, r.nfe, r.nfe_expected)
        assert len(r.fd_seeds) == len(r.kid_seeds) == result.params["seeds"]
        assert r.speedup and r.speedup > 0 and r.weight_bytes > 0 and r.parameters > 0
        assert r.timing_unreliable in (True, False)
        if r.nfe >= 1 and r.flops_per_sample:  # a runtime outside torch (ONNX Runtime) has no counted FLOPs
            per_nfe.add(round(r.flops_per_sample / r.nfe / 1e6))  # MFLOP per network evaluation and sample
    if demo.same_cost_per_nfe:  # FLOPs follow NFE when every method runs the same network in full
        assert per_nfe and max(per_nfe) <= 1.1 * min(per_nfe), per_nfe
    assert result.checks["nfe_counted_equals_expected"]
    a = result.anchors
    assert 0 < a["fd_floor"] < a["fd_ceiling"] and a["fd_floor_sd"] > 0 and a["draws"] >= 5
    assert result.rows[0].fd < a["fd_ceiling"] / 3  # the trained model's baseline is far from noise
    assert result.comparisons
    for c in result.comparisons:
        assert c.technique in rows and c.reference in rows and c.metric in ("fd", "kid")
        assert c.reference_role in ("full-cost", "equal-cost", "reference")
        assert c.verdict in ("better", "worse", "no detectable difference", "inconclusive")
        assert c.ci_low <= c.difference <= c.ci_high
        assert c.difference == pytest.approx(rows[c.technique].get(c.metric) - rows[c.reference].get(c.metric))
        if c.verdict == "better":
            assert c.ci_high < 0
    assert {c.reference_role for c in result.comparisons} >= {"full-cost", "equal-cost"}
    findings = result.findings()
    assert findings and all(" vs " in f and ("FD " in f) for f in findings)
    assert any(Path(r.grid).is_file() for r in result.rows if r.grid)
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen) and seen == sorted(seen)
    # written to its folder before recording, and recorded
    saved = json.loads((Path(result.out_dir) / "result.json").read_text())
    assert DemoResult.from_json(saved).to_json() == dict(result.to_json(), run_id=None)
    stored = ResultsStore(store_path).get(result.run_id)
    assert stored["demo"] == demo_id and DemoResult.from_json(stored).rows[0].method == result.baseline
    assert result.model["source"] in ("committed", "cache"), "smoke runs must start from trained weights"


def test_cancel_stops_a_run(tmp_path, monkeypatch):
    from reference_impls.core.progress import Cancelled

    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 20

    with pytest.raises(Cancelled):
        demos.run_and_record("solvers", "quick", registry.get_demo("solvers").smoke, device="cpu",
                             should_stop=should_stop, record=False, out_dir=tmp_path / "run")


def test_a_store_that_cannot_record_never_loses_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    result = demos.run_and_record("solvers", "quick", dict(registry.get_demo("solvers").smoke, seeds=1, n_samples=50),
                                  device="cpu", out_dir=tmp_path / "run", db_path=bad)
    assert result.run_id is None
    err = capsys.readouterr().err
    assert "could not be recorded" in err and str(tmp_path / "run" / "result.json") in err
    assert json.loads((tmp_path / "run" / "result.json").read_text())["demo"] == "solvers"
