"""The SQLite results store: round trip, export, and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

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
    runs = json.loads(store.export("json", demo="scheduling"))
    assert len(runs) == 1 and runs[0]["run_id"] == b
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
