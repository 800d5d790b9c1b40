"""The Demos page shows a DemoResult: table, chart, paired findings, every comparison, timing flags."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_result(tmp_path_factory):
    import os

    from diffatlas import demos

    folder = tmp_path_factory.mktemp("smoke")
    saved = os.environ.get("DIFFATLAS_CACHE")
    os.environ["DIFFATLAS_CACHE"] = str(folder / "cache")
    try:
        return demos.run_and_record("solvers", "quick", demos.get_demo("solvers").smoke, device="cpu", record=False,
                                    out_dir=folder / "run")
    finally:
        if saved is None:
            os.environ.pop("DIFFATLAS_CACHE", None)
        else:
            os.environ["DIFFATLAS_CACHE"] = saved


def test_the_page_renders_a_result_with_its_findings(make_app, smoke_result, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_RESULTS", str(tmp_path / "r.sqlite"))
    smoke_result.rows[1].timing_unreliable = True
    smoke_result.checks["timing_unreliable_rows"] = [smoke_result.rows[1].method]
    at = make_app(REPO / "catalog", REPO / "taxonomy", timeout=180)
    at.run()
    at.switch_page("views/demos.py")
    at.session_state["demo_choice"] = "solvers"
    at.session_state["demo_shown"] = smoke_result
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    from diffatlas.htmlsafe import md

    text = "\n".join(m.value for m in at.markdown)
    for sentence in smoke_result.findings():  # each finding, escaped as catalog-free text is
        assert md(sentence) in text
    assert md("vs DDIM 4 [equal-cost baseline") in text
    assert any("Timing unreliable" in w.value for w in at.warning)
    labels = [m.label for m in at.metric]
    assert "FD floor (real vs real)" in labels and "KID\u00d710\u00b3 floor" in labels
    assert len(at.dataframe) >= 2  # the rows and every comparison
    captions = [c.value.replace("\\", "") for c in at.caption]
    assert any(c.startswith("Quick run: ~") and ("declared" in c or "runs here" in c) for c in captions), captions
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    labelled = {t for trace in spec["data"] for t in trace.get("text") or []}
    assert {r.method for r in smoke_result.rows if r.ms_per_sample and r.ms_per_sample > 0} <= labelled
    assert all("textfont" in trace and trace.get("mode", "").endswith("text") for trace in spec["data"])


def test_a_past_run_from_an_older_harness_is_explained(make_app, tmp_path, monkeypatch):
    from diffatlas.results import ResultsStore

    db = tmp_path / "r.sqlite"
    monkeypatch.setenv("DIFFATLAS_RESULTS", str(db))
    run_id = ResultsStore(db).record({"demo": "solvers", "mode": "quick", "params": {}, "rows": [{"method": "x"}]})
    at = make_app(REPO / "catalog", REPO / "taxonomy", timeout=180)
    at.run()
    at.switch_page("views/demos.py").run()
    at.selectbox(key="past_pick_solvers").select(run_id).run()
    at.button(key="past_show").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("older version of the harness" in i.value for i in at.info)
