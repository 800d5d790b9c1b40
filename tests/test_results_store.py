"""The SQLite results store: round trip, export, and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

import pytest

from diffatlas.results import ResultsStore


def fake_result(i: int, demo: str = "solvers") -> dict:
    return {
        "demo": demo, "mode": "quick", "created": f"2026-01-01T00:00:{i % 60:02d}Z", "device": "CPU test",
        "git": "abc123", "duration_s": 1.5, "params": {"steps": [10], "n_samples": 100},
        "versions": {"torch": "x"}, "notes": ["n"],
        "rows": [{"method": "DDIM 10", "nfe": 10, "fd": 12.5 + i, "wall_s": 0.5, "role": "technique", "ok": True},
                 {"method": "DDPM 1000", "nfe": 1000, "fd": float("nan"), "wall_s": 50.0, "role": "baseline"}],
    }


def test_round_trip_and_export(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    a = store.record(fake_result(1))
    b = store.record(fake_result(2, demo="scheduling"))
    assert store.count() == 2
    assert [r["id"] for r in store.runs()] == [b, a]
    assert [r["demo"] for r in store.runs("solvers")] == ["solvers"]
    got = store.get(a)
    assert got["rows"][0]["fd"] == 13.5 and got["rows"][1]["fd"] is None  # NaN stored as null
    assert got["params"] == {"steps": [10], "n_samples": 100}
    metrics = store.metrics(run_id=a)
    assert {(m["method"], m["metric"]) for m in metrics} >= {("DDIM 10", "fd"), ("DDPM 1000", "nfe")}
    assert not any(m["metric"] == "ok" for m in metrics)  # booleans are not metrics
    csv_text = store.export("csv")
    assert csv_text.splitlines()[0] == "run_id,demo,mode,created,device,method,metric,value"
    assert "DDIM 10,fd,13.5" in csv_text
    doc = json.loads(store.export("json", demo="scheduling"))
    assert doc["format"] == "diffatlas-runs" and len(doc["runs"]) == 1 and doc["runs"][0]["run_id"] == b
    assert store.get(999) is None


def _writer(path: str, worker: int, n: int) -> None:
    store = ResultsStore(path)
    for i in range(n):
        store.record(fake_result(worker * 100 + i, demo=f"w{worker}"))


def test_concurrent_writers_do_not_corrupt(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ResultsStore(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = ResultsStore(path)
    assert store.count() == 60
    assert len(store.metrics()) == 60 * 5  # 3 + 2 numeric, finite values per run
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_default_path_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_RESULTS", str(tmp_path / "x" / "y.sqlite"))
    assert ResultsStore().path == tmp_path / "x" / "y.sqlite"


# -- a damaged store: a clear error naming the file, and a finished run is never lost --------------

def _damaged(tmp_path, kind: str):
    path = tmp_path / "results.sqlite"
    if kind == "random bytes":
        path.write_bytes(bytes(range(256)) * 20)
    elif kind == "truncated database":
        store = ResultsStore(path)
        for i in range(30):
            store.record(fake_result(i))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "a folder":
        path.mkdir()
    elif kind == "bad JSON in a row":
        store = ResultsStore(path)
        store.record(fake_result(1))
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE runs SET params = '{not json', result = '{not json'")
    return path


DAMAGED = ("random bytes", "truncated database", "a folder", "bad JSON in a row")


@pytest.mark.parametrize("kind", DAMAGED)
@pytest.mark.parametrize("command", (["list"], ["show", "1"], ["export"], ["export", "--format", "json"]))
def test_damaged_store_is_one_clear_line(tmp_path, kind, command):
    from click.testing import CliRunner

    from diffatlas.cli import main

    path = _damaged(tmp_path, kind)
    res = CliRunner().invoke(main, ["results", "--db", str(path), *command])
    assert "Traceback" not in res.output
    if kind == "a folder":  # click's own check of --db, before the store opens
        assert res.exit_code == 2 and "is a directory" in res.output, res.output
        return
    if res.exit_code == 0:  # what the damage left readable is real data, not a crash
        assert kind == "truncated database" or (kind == "bad JSON in a row" and command == ["export"]), res.output
        return
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: results database ") and str(path) in lines[0], res.output
    assert "Traceback" not in res.output


def test_store_error_says_what_to_do(tmp_path):
    from diffatlas.results import ResultsStoreError

    path = _damaged(tmp_path, "random bytes")
    with pytest.raises(ResultsStoreError, match="move it aside"):
        ResultsStore(path)


def test_a_finished_run_survives_a_damaged_store(tmp_path, monkeypatch, capsys):
    """run_and_record writes result.json before recording, so a store that refuses loses nothing."""
    from types import SimpleNamespace

    from diffatlas import demos
    from reference_impls import registry as reg

    out = tmp_path / "run"
    out.mkdir()
    fake = SimpleNamespace(out_dir=str(out), to_json=lambda: fake_result(7), run_id=None)
    monkeypatch.setattr(reg, "run_demo", lambda *a, **k: fake)
    path = _damaged(tmp_path, "random bytes")
    result = demos.run_and_record("solvers", db_path=path)
    assert result is fake and result.run_id is None
    saved = json.loads((out / "result.json").read_text())
    assert saved["rows"][0]["fd"] == 19.5
    err = capsys.readouterr().err
    assert "could not be recorded" in err and str(out / "result.json") in err
