"""`diffatlas demo list|run` and `diffatlas results` through click (one real smoke run)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from diffatlas.cli import main
from diffatlas.results import ResultsStore

DEMO_IDS = {"solvers", "scheduling", "truncated", "distillation", "caching", "pruning", "quantization", "runtime",
            "parallel", "backbone", "latent", "guidance"}


def test_demo_list_names_every_demo_with_nodes_and_runtime():
    out = CliRunner().invoke(main, ["demo", "list"])
    assert out.exit_code == 0, out.output
    for demo_id in DEMO_IDS:
        assert demo_id in out.output
    assert "shen2025:algorithm.sampling.solver" in out.output and "quick ~" in out.output
    data = json.loads(CliRunner().invoke(main, ["demo", "list", "--json"]).output)
    assert {d["id"] for d in data} == DEMO_IDS
    assert all(p["bounds"] for d in data for p in d["params"])


@pytest.mark.parametrize("args, message", [
    (["truncated", "-p", "truncate_at=nan"], "parameter 'truncate_at': 'nan' is not a finite number; allowed: [0.01, 0.99]"),
    (["scheduling", "-p", "target_ratio=nan"], "parameter 'target_ratio': 'nan' is not a finite number"),
    (["scheduling", "-p", "target_ratio=inf"], "parameter 'target_ratio': 'inf' is not a finite number"),
    (["truncated", "-p", "retrieval=ture"], "parameter 'retrieval': 'ture' is not a boolean; use true/false"),
    (["solvers", "-p", "seeds=99"], "parameter 'seeds': 99 is out of range [1, 20]"),
    (["solvers", "-p", "seeds"], "'seeds' is not KEY=VALUE"),
    (["solvers", "--device", "tpu"], "device 'tpu' is not known"),
    (["solvers", "--dtype", "fp8"], "option 'dtype': 'fp8' is not one of fp32, bf16, fp16"),
    (["truncated", "-p", "key_step=15"], "retrieval needs 0 < key_step < value_step <= ddim_steps"),
    (["nosuchdemo"], "unknown demo 'nosuchdemo'"),
])
def test_bad_parameters_are_one_line_and_exit_2(args, message):
    out = CliRunner().invoke(main, ["demo", "run", *args])
    assert out.exit_code == 2, out.output
    assert out.output.strip().count("\n") == 0, out.output  # one line
    assert out.output.startswith("error: ") and message in out.output, out.output


def test_cuda_without_a_gpu_is_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for device in ("cuda", "cuda:7"):
        out = CliRunner().invoke(main, ["demo", "run", "solvers", "--device", device])
        assert out.exit_code == 2 and out.output.count("\n") == 1 and "sees no CUDA GPU" in out.output


def test_unwritable_out_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = CliRunner().invoke(main, ["demo", "run", "solvers", "--out", str(blocker / "sub")])
    assert out.exit_code == 2 and out.output.count("\n") == 1 and "--out" in out.output


@pytest.mark.slow
def test_run_json_then_results_list_show_export(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_CACHE", str(tmp_path / "cache"))
    db = tmp_path / "r.sqlite"
    smoke = ["-p", "n_samples=50", "-p", "seeds=2", "-p", "steps=3", "-p", "solvers=ddim,dpmsolver++",
             "-p", "baseline_steps=12"]
    out = CliRunner().invoke(main, ["demo", "run", "solvers", "--json", "--db", str(db), "--out", str(tmp_path / "o"),
                                    "--device", "cpu", *smoke])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["threads"] >= 1 and data["harness"] == 2
    items = data["comparisons"]
    assert items and {"technique", "reference", "metric", "difference", "ci_low", "ci_high", "verdict",
                      "reference_role"} <= set(items[0])
    assert {c["metric"] for c in items} == {"fd", "kid"}
    assert {c["reference_role"] for c in items} == {"full-cost", "equal-cost"}
    assert all("timing_unreliable" in r and "kid" in r and "flops_per_sample" in r for r in data["rows"])
    run_id = data["run_id"]
    out = CliRunner().invoke(main, ["results", "--db", str(db), "list"])
    assert out.exit_code == 0 and "solvers" in out.output
    out = CliRunner().invoke(main, ["results", "--db", str(db), "show", str(run_id)])
    assert out.exit_code == 0, out.output
    assert "DPM-Solver++(2M) 3 vs DDIM 3 [equal-cost baseline" in out.output and "FD floor" in out.output
    assert "torch threads" in out.output
    out = CliRunner().invoke(main, ["results", "--db", str(db), "export", "--format", "csv"])
    assert out.output.startswith("run_id,demo,mode") and ",kid," in out.output
    target = tmp_path / "x.json"
    out = CliRunner().invoke(main, ["results", "--db", str(db), "export", "--format", "json", "-o", str(target)])
    assert json.loads(target.read_text())["runs"][0]["run_id"] == run_id


def test_a_run_from_an_older_harness_is_explained_not_a_traceback(tmp_path):
    db = tmp_path / "r.sqlite"
    run_id = ResultsStore(db).record({"demo": "solvers", "mode": "quick", "params": {}, "rows": [{"method": "x", "fd": 1.0}]})
    out = CliRunner().invoke(main, ["results", "--db", str(db), "show", str(run_id)])
    assert out.exit_code == 1 and "older version of the harness" in out.output
    out = CliRunner().invoke(main, ["results", "--db", str(db), "show", "999"])
    assert out.exit_code == 2 and "no run 999" in out.output
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
