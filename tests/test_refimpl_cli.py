"""`diffatlas demo list|run` and `diffatlas results` through click (no model runs here)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from diffatlas.cli import main
from diffatlas.results import ResultsStore
from tests.test_results_store import fake_result


def test_demo_list_names_every_demo_with_nodes_and_runtime():
    out = CliRunner().invoke(main, ["demo", "list"])
    assert out.exit_code == 0, out.output
    for demo_id in ("solvers", "scheduling", "truncated", "distillation"):
        assert demo_id in out.output
    assert "shen2025:algorithm.sampling.solver" in out.output and "quick ~" in out.output
    data = json.loads(CliRunner().invoke(main, ["demo", "list", "--json"]).output)
    assert {d["id"] for d in data} == {"solvers", "scheduling", "truncated", "distillation"}
    assert all(p["bounds"] for d in data for p in d["params"])


def test_demo_run_rejects_bad_parameters_with_their_range():
    out = CliRunner().invoke(main, ["demo", "run", "solvers", "-p", "seeds=99"])
    assert out.exit_code != 0 and "'seeds'" in out.output and "[1, 10]" in out.output
    out = CliRunner().invoke(main, ["demo", "run", "solvers", "-p", "seeds"])
    assert out.exit_code != 0 and "KEY=VALUE" in out.output
    out = CliRunner().invoke(main, ["demo", "run", "nosuchdemo"])
    assert out.exit_code != 0 and "unknown demo" in out.output


def test_results_list_show_export(tmp_path):
    db = tmp_path / "r.sqlite"
    store = ResultsStore(db)
    run_id = store.record(dict(fake_result(3), title="t", anchors={"fd_floor": 1.0, "fd_ceiling": 9.0,
                                                                    "classifier_accuracy": 0.99},
                               model={"parameters": 10, "source": "committed"}, baseline="DDPM 1000",
                               equal_cost="DDIM", papers=[], versions={"torch": "x", "diffusers": "y"}))
    out = CliRunner().invoke(main, ["results", "--db", str(db), "list"])
    assert out.exit_code == 0 and "solvers" in out.output
    out = CliRunner().invoke(main, ["results", "--db", str(db), "show", str(run_id)])
    assert out.exit_code == 0, out.output
    assert "DDIM 10" in out.output and "floor 1.0" in out.output
    out = CliRunner().invoke(main, ["results", "--db", str(db), "export", "--format", "csv"])
    assert out.output.startswith("run_id,demo,mode")
    target = tmp_path / "x.json"
    out = CliRunner().invoke(main, ["results", "--db", str(db), "export", "--format", "json", "-o", str(target)])
    assert json.loads(target.read_text())[0]["run_id"] == run_id
