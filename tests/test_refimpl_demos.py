"""Every demo's quick configuration, run for real on the committed weights.

Asserts structure and sanity, not literature claims: metrics finite, NFE
counted equals NFE expected, the full-cost baseline, the equal-cost baseline
and the technique measured in the same run, anchors that make FD readable,
sample grids written, the run recorded in the results store.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from diffatlas.results import ResultsStore
from reference_impls import substrate as _substrate_for_threads  # noqa: E402
from reference_impls import registry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return tmp_path_factory.mktemp("results") / "results.sqlite"


@pytest.mark.parametrize("demo_id", list(registry.DEMO_MODULES))
def test_quick_configuration(demo_id, store_path, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    seen = []
    started = time.perf_counter()
    result = registry.run_demo(demo_id, "quick", progress=lambda f, m: seen.append(f), device="cpu",
                               db_path=store_path, out_dir=tmp_path / "run")
    elapsed = time.perf_counter() - started
    rows = result["rows"]
    roles = {r["role"] for r in rows}
    assert "baseline" in roles and "technique" in roles and "equal-cost" in roles, roles
    assert result["baseline"] == rows[0]["method"] and rows[0]["role"] == "baseline"
    for r in rows:
        for key in ("fd", "wall_s", "confidence", "speedup", "fd_ratio"):
            assert math.isfinite(r[key]), (r["method"], key, r[key])
        assert r["nfe"] == r["nfe_expected"], (r["method"], r["nfe"], r["nfe_expected"])
        assert r["wall_s"] > 0
    assert result["checks"]["nfe_counted_equals_expected"]
    a = result["anchors"]
    assert 0 < a["fd_floor"] < a["fd_ceiling"]
    # the trained model's full-cost baseline is far from noise
    assert rows[0]["fd"] < a["fd_ceiling"] / 3, (rows[0]["fd"], a)
    assert result["notes"] and all(isinstance(n, str) for n in result["notes"])
    assert any(Path(r["grid"]).is_file() for r in rows if r.get("grid"))
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    stored = ResultsStore(store_path).get(result["run_id"])
    assert stored["demo"] == demo_id and stored["params"] == result["params"]
    assert result["model"]["source"] in ("committed", "cache"), "quick runs must start from trained weights"
    print(f"{demo_id}: quick configuration took {elapsed:.1f}s")


def test_cancel_stops_a_run(tmp_path, monkeypatch):
    from reference_impls.harness import Cancelled

    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 20

    with pytest.raises(Cancelled):
        registry.run_demo("solvers", "quick", device="cpu", should_stop=should_stop, record=False,
                          out_dir=tmp_path / "run")


_substrate_for_threads.set_threads()  # half the cores: see substrate.set_threads
