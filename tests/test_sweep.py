"""`diffatlas sweep`: plans checked before anything runs, keys that make a rerun do nothing, both backends.

The sweeps run two demos x two parameter values x two seeds (8 runs), each as small as its parameters
allow, on the local backend and on Ray embedded with 2 CPUs (skipped only when Ray is not importable;
CI installs the cluster extra). Every test uses its own results database.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from diffatlas import sweep as sw
from diffatlas.cli import main
from diffatlas.results import ResultsStore

pytest.importorskip("torch")

TINY = """\
# 2 demos x 2 values x 2 seeds = 8 runs, each as small as its parameters allow
seeds: [0, 1]
devices: [cpu]
runs:
  - demo: solvers
    params: {n_samples: 50, seeds: 1, batch: 50, solvers: ddim, steps: 2, baseline_steps: 10}
    grid: {n_samples: [50, 60]}
  - demo: pruning
    params: {n_samples: 50, seeds: 1, batch: 50, importances: magnitude, steps: 2, agreement_samples: 10}
    grid: {n_samples: [50, 60]}
"""


# The sweeps below take about a minute on an idle 2-core machine; several times that while other
# sessions load it, hence the longer timeout (the runs are real: the point is that they are recorded).
SLOW = pytest.mark.timeout(1800)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread per run, as a Ray task or pool worker would have: steadier on a shared machine."""
    monkeypatch.setenv("DIFFATLAS_THREADS", "1")


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    return path


def sweep(*args: str):
    return CliRunner().invoke(main, ["sweep", *args])


def summary(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- planning and errors (no run starts) -------------------------------------------------------------
def test_plan_is_the_product_and_keys_are_stable(tiny):
    runs = sw.plan(sw.load_spec(tiny))
    assert len(runs) == 8 and len({r.key for r in runs}) == 8
    assert {(r.demo, r.params["n_samples"], r.seed) for r in runs} == {
        (d, n, s) for d in ("solvers", "pruning") for n in (50, 60) for s in (0, 1)}
    again = sw.plan(sw.load_spec(tiny))
    assert [r.key for r in runs] == [r.key for r in again]
    # the key is of what determines the result: the folder a run writes to is not in it, the seed is
    moved = sw.Run(**{**runs[0].__dict__, "out_dir": "/elsewhere"})
    assert moved.key == runs[0].key
    assert sw.Run(**{**runs[0].__dict__, "seed": 7}).key != runs[0].key


@pytest.mark.parametrize("text, expected", [
    ("runs:\n  - demo: solvers\n    gird: {steps: [2]}\n", "field runs[0].gird: Extra inputs are not permitted"),
    ("runs: []\n", "field runs"),
    ("seeds: [0]\n", "field runs: Field required; add it"),
    ("mode: fast\nruns:\n  - demo: solvers\n", "field mode"),
    ("runs:\n  - demo: solvers\n    grid: {steps: []}\n", "has no values"),
    ("runs:\n  - demo: solvers\n  - demo: solvers\n    demo: pruning\n", "duplicate key 'demo'"),
    ("runs: [\n", "malformed YAML"),
    ("- solvers\n", "a sweep file is a mapping"),
])
def test_a_bad_sweep_file_is_one_line_naming_file_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = sweep("--file", str(path), "--db", str(tmp_path / "r.sqlite"))
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert str(path) in result.output and expected in result.output


@pytest.mark.parametrize("args, expected", [
    (["solverz"], "unknown demo 'solverz'; known demos:"),
    (["solvers", "-p", "stepz=3"], "demo 'solvers' has no parameter 'stepz'"),
    (["solvers", "pruning", "--grid", "baseline_steps=10,20"], "demo 'pruning' has no parameter 'baseline_steps'"),
    (["solvers", "--grid", "steps=2,0"], "parameter 'steps': 0 is out of range"),
    (["solvers", "--devices", "gpu"], "device 'gpu' is not known"),
    (["solvers", "--seeds", "a"], "--seeds 'a'"),
    ([], "name at least one demo"),
])
def test_unknown_demo_or_parameter_fails_in_one_line_before_any_run(tmp_path, args, expected):
    db = tmp_path / "r.sqlite"
    result = sweep(*args, "--db", str(db))
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and expected in result.output, result.output
    assert not db.exists() or ResultsStore(db).count() == 0


def test_ray_backend_without_ray_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(sw, "ray_missing", lambda: "the ray backend needs Ray ...; add it with " + sw.INSTALL_CLUSTER)
    result = sweep("solvers", "--backend", "ray", "--db", str(tmp_path / "r.sqlite"))
    assert result.exit_code == 2 and 'pip install -e ".[cluster]"' in result.output


# -- the local backend: record 8, interrupt, resume, rerun nothing ------------------------------------
@SLOW
def test_local_sweep_records_8_resumes_after_an_interrupt_and_a_rerun_records_none(tiny, tmp_path, monkeypatch):
    db = tmp_path / "local.sqlite"
    dry = json.loads(sweep("--file", str(tiny), "--db", str(db), "--dry-run", "--json").stdout)
    assert dry["planned"] == 8 and dry["done"] == 0

    # Ctrl-C during the third run: the two finished runs are recorded, nothing else
    real, calls = sw.execute, []

    def interrupted_on_third(run, threads=None):
        calls.append(run.key)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(run, threads)

    monkeypatch.setattr(sw, "execute", interrupted_on_third)
    first = sw.run_sweep(sw.plan(sw.load_spec(tiny)), ResultsStore(db), show=False)
    assert first.interrupted and first.recorded == 2 and ResultsStore(db).count() == 2
    monkeypatch.setattr(sw, "execute", real)

    resumed = summary(sweep("--file", str(tiny), "--db", str(db), "--json"))
    assert (resumed["skipped"], resumed["recorded"], resumed["failed"]) == (2, 6, [])
    store = ResultsStore(db)
    assert store.count() == 8 and len(store.keys()) == 8
    seeds = {(r["demo"], r["params"]["n_samples"], r.get("seed", 0)) for r in store.results()}
    assert len(seeds) == 8

    again = summary(sweep("--file", str(tiny), "--db", str(db), "--json"))
    assert (again["skipped"], again["recorded"]) == (8, 0) and ResultsStore(db).count() == 8
    dry = sweep("--file", str(tiny), "--db", str(db), "--dry-run")
    assert dry.output.count("done  ") == 8 and "8 runs: 8 already in" in dry.output


@SLOW
def test_a_failing_run_is_one_line_in_the_summary_and_the_others_go_on(tmp_path, monkeypatch):
    real = sw.execute

    def fail_seed_1(run, threads=None):
        if run.seed == 1:
            raise RuntimeError("CUDA out of memory (simulated)\nsecond line of a long message")
        return real(run, threads)

    monkeypatch.setattr(sw, "execute", fail_seed_1)
    db = tmp_path / "fail.sqlite"
    result = sweep("solvers", "-p", "n_samples=50", "-p", "seeds=1", "-p", "batch=50", "-p", "solvers=ddim",
                   "-p", "steps=2", "-p", "baseline_steps=10", "--seeds", "1,0", "--devices", "cpu", "--db", str(db),
                   "--json")
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["recorded"] == 1 and ResultsStore(db).count() == 1
    assert [f["error"] for f in out["failed"]] == ["RuntimeError: CUDA out of memory (simulated)"]
    assert "Traceback" not in result.output


@SLOW
def test_a_pool_of_two_worker_processes_records_each_run_once(tmp_path):
    db = tmp_path / "pool.sqlite"
    args = ("pruning", "-p", "n_samples=50", "-p", "seeds=1", "-p", "batch=50", "-p", "importances=magnitude",
            "-p", "steps=2", "-p", "agreement_samples=10", "--seeds", "0,1", "--devices", "cpu", "--db", str(db),
            "--workers", "2", "--json")
    first = summary(sweep(*args))
    assert (first["recorded"], first["failed"]) == (2, []) and ResultsStore(db).count() == 2
    assert {r["threads"] for r in ResultsStore(db).results()} == {max(1, (os.cpu_count() or 1) // 2)}  # cores / workers
    again = summary(sweep(*args))
    assert (again["skipped"], again["recorded"]) == (2, 0)


# -- the ray backend, embedded with 2 CPUs --------------------------------------------------------------
@SLOW
def test_ray_sweep_embedded_records_8_and_a_rerun_records_none(tiny, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    db = tmp_path / "ray.sqlite"
    first = summary(sweep("--file", str(tiny), "--db", str(db), "--backend", "ray", "--num-cpus", "2", "--json"))
    assert (first["recorded"], first["failed"], first["backend"]) == (8, [], "ray")
    store = ResultsStore(db)
    assert store.count() == 8 and store.keys() == {r.key for r in sw.plan(sw.load_spec(tiny))}
    again = summary(sweep("--file", str(tiny), "--db", str(db), "--backend", "ray", "--num-cpus", "2", "--json"))
    assert (again["skipped"], again["recorded"]) == (8, 0) and ResultsStore(db).count() == 8


def test_a_cluster_that_cannot_be_reached_is_one_line_with_the_fix():
    """Ray 2.59+ clusters want a token; the message says how to give it (checked on a real `ray start` head)."""
    from diffatlas.sweep import ray_connect_error

    text = ray_connect_error("10.0.0.5:6379", ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379"))
    assert "\n" not in text and "10.0.0.5:6379" in text
    assert "RAY_AUTH_MODE=token" in text and "auth_token" in text and "ray status --address 10.0.0.5:6379" in text
    assert "could not start" in ray_connect_error(None, RuntimeError("no /dev/shm"))
