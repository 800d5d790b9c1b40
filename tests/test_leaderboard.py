"""The measured leaderboard: entries from real stored runs, the Pareto front, filters, CSV, the command and the page.

The store holds the committed CPU runs (benchmarks/results/*.json, one full run of every demo measured so far),
recorded into a temporary database: real results, read in a second. One test adds a real smoke run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from diffatlas import leaderboard as lb
from diffatlas.cli import main
from diffatlas.results import ResultsStore
from reference_impls.core import stats
from reference_impls.core.result import Row
from tests.conftest import REPO

COMMITTED = sorted((REPO / "benchmarks" / "results").glob("*.json"))
COMMITTED_DEMOS = {json.loads(p.read_text())["demo"] for p in COMMITTED}


def record_committed(path: Path) -> ResultsStore:
    store = ResultsStore(path)
    report = store.import_files([REPO / "benchmarks" / "results"])
    assert report["added"] == len(COMMITTED) and not report["refused"], report
    return store


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("leaderboard") / "results.sqlite"
    record_committed(path)
    return path


@pytest.fixture(scope="module")
def board(store_path) -> lb.Board:
    return lb.collect(ResultsStore(store_path).results())


def entry(board, demo: str, method: str) -> lb.Entry:
    return next(e for e in board.entries if e.demo == demo and e.method == method)


def stored(demo: str) -> dict:
    return next(json.loads(p.read_text()) for p in COMMITTED if json.loads(p.read_text())["demo"] == demo)


# -- entries --------------------------------------------------------------------------------
def test_every_committed_demo_has_entries_and_only_ranked_roles(board):
    assert len(COMMITTED) >= 10 and board.runs == len(COMMITTED) and not board.skipped
    assert {e.demo for e in board.entries} == COMMITTED_DEMOS
    assert {e.role for e in board.entries} == {"technique", "equal-cost"}
    for data in map(lambda p: json.loads(p.read_text()), COMMITTED):
        ranked = [r["method"] for r in data["rows"] if r["role"] in ("technique", "equal-cost")]
        assert sorted(e.method for e in board.entries if e.demo == data["demo"]) == sorted(ranked)


def test_speedup_is_against_the_rows_own_full_cost_row(board):
    data = stored("caching")
    rows = {r["method"]: r for r in data["rows"]}
    e = entry(board, "caching", "DPM-Solver++(2M) 20 + DeepCache N=2 b=0")
    assert e.reference == "DPM-Solver++(2M) 20"  # its own full-cost row, not the run's first one (DDIM 50)
    expected = rows["DPM-Solver++(2M) 20"]["ms_per_sample"] / rows[e.method]["ms_per_sample"]
    assert e.speedup == pytest.approx(expected)
    assert e.speedup != pytest.approx(rows[e.method]["speedup"])  # the stored column is against DDIM 50
    # an equal-cost row takes the full-cost row of the technique it is the budget of
    assert entry(board, "caching", "DPM-Solver++(2M) 11").reference == "DPM-Solver++(2M) 20"


def test_each_speedup_names_the_cost_its_demo_counts(board):
    assert entry(board, "solvers", "UniPC(bh2) 10").cost == "NFE"
    assert entry(board, "caching", "DDIM 50 + DeepCache N=3 b=0").cost == "FLOPs"
    quant = entry(board, "quantization", "quanto W8, DDIM 20")
    assert quant.cost == "weight bytes" and quant.cost_ratio == pytest.approx(1815172 / 478384)
    assert {e.cost for e in board.entries if e.demo == "runtime" and e.role == "technique"} == {lb.TIME_ONLY}
    assert all(e.cost_ratio is None for e in board.entries if e.cost == lb.TIME_ONLY)


def test_quality_change_is_the_stored_paired_comparison(board):
    data = stored("caching")
    c = next(c for c in data["comparisons"] if c["technique"] == "DDIM 50 + DeepCache N=2 b=0"
             and c["reference_role"] == "full-cost" and c["metric"] == "fd")
    e = entry(board, "caching", "DDIM 50 + DeepCache N=2 b=0")
    assert (e.metric, e.paired, e.verdict) == ("fd", "stored", c["verdict"])
    assert (e.change, e.ci_low, e.ci_high, e.n_samples) == (c["difference"], c["ci_low"], c["ci_high"], c["n_samples"])
    equal = next(c for c in data["comparisons"] if c["technique"] == e.method and c["reference_role"] == "equal-cost"
                 and c["metric"] == "fd")
    assert (e.equal_cost, e.equal_cost_verdict, e.equal_cost_change) == (equal["reference"], equal["verdict"],
                                                                          equal["difference"])


def test_a_row_the_demo_did_not_compare_gets_the_same_paired_interval(board):
    data = stored("scheduling")
    rows = {r["method"]: r for r in data["rows"]}
    e = entry(board, "scheduling", "optimised 10")
    assert e.paired == "computed" and e.reference == data["baseline"]
    ref = rows[data["baseline"]]
    iv = stats.paired(rows["optimised 10"]["fd_seeds"], ref["fd_seeds"],
                      stats.margin_for(ref["fd"], data["anchors"]["fd_floor_sd"]))
    assert (e.change, e.ci_low, e.ci_high, e.verdict) == (iv.difference, iv.low, iv.high, iv.verdict)
    assert e.ci_low <= e.change <= e.ci_high
    assert entry(board, "solvers", "DDIM 10").equal_cost_verdict == "is the equal-cost baseline"


def test_equal_cost_rows_pointing_at_each_other_fall_back_to_the_runs_baseline():
    from reference_impls.core.result import DemoResult

    data = stored("caching")
    a, b = "DDIM 33", "DDIM 28"
    data["comparisons"] = [dict(c, technique=a, reference=b) for c in data["comparisons"][:1]] + \
        [dict(c, technique=b, reference=a, reference_role="equal-cost") for c in data["comparisons"][:1]]
    data["comparisons"][0]["reference_role"] = "equal-cost"
    assert lb.full_cost_of(DemoResult.from_json(data), a) == data["baseline"]


def test_groups_keep_sample_sizes_apart(board):
    groups = {e.group for e in board.entries}
    sizes = {e.n_samples for e in board.entries}
    assert len(sizes) > 1 and len(groups) >= len(sizes)  # 400, 500 and 1000 samples are ranked apart
    assert all(f"{e.n_samples} samples" in e.group and e.model in e.group for e in board.entries)


# -- the Pareto front -----------------------------------------------------------------------
def test_pareto_front_on_hand_made_points():
    points = [(10.0, 5.0), (5.0, 1.0), (8.0, 6.0), (10.0, 5.0), (1.0, -1.0), (5.0, 2.0), (12.0, 9.0), (0.5, -1.0)]
    # (8, 6) is beaten by (10, 5); (5, 2) by (5, 1); (0.5, -1) by (1, -1); the duplicate (10, 5) stays with its twin
    assert lb.pareto_front(points) == {0, 1, 3, 4, 6}
    assert lb.pareto_front([]) == set()
    assert lb.pareto_front([(2.0, 3.0)]) == {0}


def test_pareto_is_marked_within_each_group_only(board):
    for group in {e.group for e in board.entries}:
        members = [e for e in board.entries if e.group == group and e.speedup is not None and e.loss is not None]
        front = [e for e in members if e.pareto]
        assert front, group
        for f in front:  # nobody in the group is at least as fast and as good, and better on one
            assert not any(o.speedup >= f.speedup and o.loss <= f.loss and (o.speedup, o.loss) != (f.speedup, f.loss)
                           for o in members)
        for d in (m for m in members if not m.pareto):  # and each entry off the front is beaten by one on it
            assert any(o.speedup >= d.speedup and o.loss <= d.loss for o in front)
    # the fastest entry of every group is on its front unless a tie beats it on quality
    fastest = max((e for e in board.entries if e.demo == "solvers"), key=lambda e: e.speedup)
    assert fastest.pareto


def test_the_loss_follows_the_metric_direction():
    base = dict(entry_fields(), change=2.0)
    assert lb.Entry(**dict(base, metric="fd")).loss == 2.0
    assert lb.Entry(**dict(base, metric="psnr")).loss == -2.0


def entry_fields() -> dict:
    return {f: None for f in lb.Entry.__dataclass_fields__ if f != "pareto"} | {
        "nodes": (), "papers": (), "timing_unreliable": False, "device": "d", "model": "m", "demo": "x",
        "method": "m", "role": "technique", "cost": "NFE", "verdict": "", "paired": "", "equal_cost": "",
        "equal_cost_verdict": "", "created": "", "device_type": "cpu", "host": "", "mode": "quick", "seed": 0,
        "reference": "r"}


# -- filters ----------------------------------------------------------------------------------
def test_filters_narrow_and_count(board):
    kept, counts = lb.apply(board.entries, lb.Filters(device="cpu", demo="caching"))
    assert counts == [("device", "cpu", len(board.entries)), ("demo", "caching", len(kept))]
    assert kept and {e.demo for e in kept} == {"caching"}
    assert lb.apply(board.entries, lb.Filters(device="cuda"))[0] == []
    assert lb.apply(board.entries, lb.Filters(model="substrate:"))[0] and not lb.apply(board.entries, lb.Filters(model="user:"))[0]
    assert lb.apply(board.entries, lb.Filters(mode="quick"))[0] == []


def test_node_filter_takes_a_subtree_in_any_tree(board):
    system = {e.demo for e in lb.apply(board.entries, lb.Filters(node="shen2025:system"))[0]}
    assert {"caching", "parallel", "runtime"} <= system and "solvers" not in system
    assert {e.demo for e in lb.apply(board.entries, lb.Filters(node="system.caching"))[0]} == {"caching"}
    assert {e.demo for e in lb.apply(board.entries, lb.Filters(node="ma2024:part5"))[0]} >= {"solvers", "distillation"}
    assert lb.apply(board.entries, lb.Filters(node="shen2025:system.cach"))[0] == []  # not a prefix of a word


def test_the_front_is_recomputed_within_the_filter(board):
    kept, _ = lb.apply(board.entries, lb.Filters(demo="quantization"))
    assert any(e.pareto for e in kept)
    best = max(kept, key=lambda e: e.speedup)
    assert best.pareto  # the fastest quantization row leads once the faster demos are filtered out
    assert not entry(board, "quantization", best.method).pareto  # among every 500-sample run it did not


def test_csv_round_trips_through_pandas(board):
    df = pd.read_csv(__import__("io").StringIO(lb.to_csv(board.entries)))
    assert list(df.columns) == lb.COLUMNS and len(df) == len(board.entries)
    assert set(df["demo"]) == COMMITTED_DEMOS and df["pareto"].sum() == sum(e.pareto for e in board.entries)
    assert set(df["cost"]) >= {"NFE", "FLOPs", "weight bytes", lb.TIME_ONLY}


def test_reported_figures_come_beside_the_entries(board):
    from diffatlas.catalog import load_catalog
    from diffatlas.paths import default_catalog_dir, default_taxonomy_dir

    catalog = load_catalog(default_catalog_dir(), default_taxonomy_dir())
    rows = lb.reported_beside(catalog, [e for e in board.entries if e.demo == "solvers"])
    assert rows and {r["demo"] for r in rows} == {"solvers"}
    assert all({"metric", "value", "speed-up", "baseline", "where", "paper_id"} <= set(r) for r in rows)
    assert {r["paper_id"] for r in rows} <= set(entry(board, "solvers", "DDIM 10").papers)


# -- the command ------------------------------------------------------------------------------
def invoke(db: Path, *args: str):
    return CliRunner().invoke(main, ["results", "--db", str(db), "leaderboard", *args])


def test_command_shows_every_demo_with_the_front_marked(store_path):
    res = invoke(store_path)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    for demo in COMMITTED_DEMOS:  # the demo column follows the 5-wide front column
        assert any(line[7:].startswith(demo + " ") for line in lines), demo
    assert any(line.startswith("*") for line in lines)
    assert "Pareto front" in res.output and "1000 samples" in res.output and "500 samples" in res.output


def test_command_filters_report_their_counts(store_path, board):
    res = invoke(store_path, "--device", "cpu", "--demo", "caching", "--pareto")
    assert res.exit_code == 0, res.output
    n_caching = sum(e.demo == "caching" for e in board.entries)
    assert f"--device cpu: {len(board.entries)} of {len(board.entries)} entries" in res.output
    assert f"--demo caching: {n_caching} of {len(board.entries)} entries" in res.output
    table_rows = [line for line in res.output.splitlines() if " caching " in f" {line} "]
    assert table_rows and all(line.startswith("*") for line in table_rows)


def test_command_json_and_csv(store_path, tmp_path):
    res = invoke(store_path, "--json", "--node", "shen2025:system.caching")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc and {d["demo"] for d in doc} == {"caching"} and all("group" in d for d in doc)
    out = tmp_path / "board.csv"
    res = invoke(store_path, "--csv", str(out), "--demo", "solvers")
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(out)["demo"]) == {"solvers"}
    again = invoke(store_path, "--csv", str(out))
    assert again.exit_code == 2 and "exists" in again.output and len(again.output.strip().splitlines()) == 1
    assert set(pd.read_csv(out)["demo"]) == {"solvers"}  # never replaced


def test_command_errors_and_empty_store(tmp_path, store_path):
    res = invoke(store_path, "--demo", "nosuchdemo")
    assert res.exit_code == 2 and "stored demos:" in res.output and len(res.output.strip().splitlines()) == 1
    empty = invoke(tmp_path / "empty.sqlite")
    assert empty.exit_code == 0
    assert "diffatlas sweep" in empty.output and "diffatlas results import benchmarks/results/" in empty.output


def test_command_lists_reported_figures(store_path):
    res = invoke(store_path, "--demo", "solvers", "--reported")
    assert res.exit_code == 0, res.output
    assert "What the catalog says the papers report" in res.output and "[solvers]" in res.output


# -- a fresh run ----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_fresh_smoke_run_joins_the_board(tmp_path):
    from diffatlas import demos

    db = tmp_path / "fresh.sqlite"
    demo = demos.get_demo("quantization")
    result = demos.run_and_record("quantization", "quick", dict(demo.smoke), db_path=db)
    board = lb.collect(ResultsStore(db).results())
    assert {e.run_id for e in board.entries} == {result.run_id}
    techniques = [e for e in board.entries if e.role == "technique"]
    assert techniques and all(e.cost == "weight bytes" and e.speedup and e.speedup > 0 for e in techniques)
    assert all(e.metric == "fd" and e.paired == "stored" and math.isfinite(e.change) for e in techniques)
    assert any(e.pareto for e in board.entries)


# -- the page (AppTest) -------------------------------------------------------------------------
def open_leaderboard(make_app, monkeypatch, db: Path, **query):
    from diffatlas.paths import default_catalog_dir, default_taxonomy_dir

    monkeypatch.setenv("DIFFATLAS_RESULTS", str(db))
    at = make_app(catalog_dir=default_catalog_dir(), taxonomy_dir=default_taxonomy_dir())
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("views/leaderboard.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_shows_chart_table_reported_figures_and_a_run(make_app, monkeypatch, store_path):
    from diffatlas.htmlsafe import md
    from tests.test_app_pages import elements

    at = open_leaderboard(make_app, monkeypatch, store_path)
    assert [t.value for t in at.title] == ["Measured leaderboard"]
    assert len(elements(at, "plotly_chart")) == 1
    table, reported = at.dataframe[0].value, at.dataframe[1].value
    assert set(table["demo"]) == COMMITTED_DEMOS and table["pareto"].any()
    assert table["paper"].dropna().str.startswith("papers?paper=").all()
    assert len(reported) and set(reported["demo"]) <= COMMITTED_DEMOS
    first = at.selectbox(key="leaderboard_run").value
    assert [e.label for e in at.expander] == [f"Run {first}: " + md(ResultsStore(store_path).get(first)["title"])]
    assert "recorded as run" in at.code[0].value  # the run as `results show` prints it
    assert elements(at, "download_button")


def test_page_filters_come_from_the_url_and_go_back(make_app, monkeypatch, store_path):
    at = open_leaderboard(make_app, monkeypatch, store_path, demo="caching", node="shen2025:system")
    assert set(at.dataframe[0].value["demo"]) == {"caching"}
    assert at.query_params["demo"] == "caching"
    at.selectbox(key="leaderboard_demo").set_value("(all)").run()
    assert set(at.dataframe[0].value["demo"]) == {"caching", "parallel", "runtime"}  # the node filter stays
    assert "demo" not in at.query_params
    bad = open_leaderboard(make_app, monkeypatch, store_path, demo="nosuchdemo")
    assert any("demo=nosuchdemo" in w.value for w in bad.warning)


def test_empty_page_says_how_to_fill_it_and_imports_the_committed_runs(make_app, monkeypatch, tmp_path):
    at = open_leaderboard(make_app, monkeypatch, tmp_path / "empty.sqlite")
    text = " ".join(i.value for i in at.info)
    assert "diffatlas sweep" in text and "diffatlas results import benchmarks/results/" in text
    at.button(key="leaderboard_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.dataframe[0].value["demo"]) == COMMITTED_DEMOS
    assert any(f"{len(COMMITTED)} runs added" in s.value for s in at.success)


# -- a run on a user's own model (fidelity: PSNR against the full-cost output) ----------------------
@pytest.mark.skipif("psnr_seeds" not in Row.__dataclass_fields__, reason="the fidelity harness has not landed yet")
def test_a_fidelity_run_ranks_by_psnr_against_the_full_cost_output(tmp_path):
    """Made-up scores on the committed quantization run's rows, in the form a run on a user's model has them."""
    data = stored("quantization")
    data.update(anchors={"fidelity": True, "samples": 8}, model={"source": "user", "class": "UNet2DModel", "key": "k1"},
                comparisons=[], run_id=7)
    scores = {}
    for i, row in enumerate(data["rows"]):
        row.update(fd=None, fd_seeds=[], kid=None, kid_seeds=[])
        if row["role"] != "full-cost":
            scores[row["method"]] = [20.0 + i, 22.0 + i]
            row.update(psnr=21.0 + i, psnr_seeds=scores[row["method"]])
    board = lb.collect([data])
    assert board.entries and all(e.metric == "psnr" and e.paired == "agreement" for e in board.entries)
    e = max(board.entries, key=lambda e: e.change)
    half = stats.t_quantile(1) * stats.standard_error(scores[e.method])
    assert (e.ci_low, e.ci_high) == pytest.approx((e.change - half, e.change + half))
    assert e.loss == -e.change and e.model == "user:UNet2DModel:k1" and "PSNR" in e.group
    assert e.pareto  # the closest agreement is on the front unless a faster row agrees as well
    db = tmp_path / "fidelity.sqlite"
    ResultsStore(db).record(data)
    res = invoke(db)
    assert res.exit_code == 0 and "PSNR vs full cost output" in res.output and "PSNR dB, " in res.output, res.output
