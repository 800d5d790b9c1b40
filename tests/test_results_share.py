"""A results store people can share: origin labels, export and import without duplicates, sweep keys."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from diffatlas.cli import main
from diffatlas.results import ResultsStore, run_uid, this_origin

from .test_results_store import fake_result

COMMITTED = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def test_a_run_is_labelled_with_catalog_checkout_and_host(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFATLAS_LABEL", "lab GPU box")
    store = ResultsStore(tmp_path / "r.sqlite")
    run_id = store.record(dict(fake_result(1), machine={"hostname": "worker-3", "gpu": None}), key="k1")
    row = store.runs()[0]
    assert row["origin"]["label"] == "lab GPU box" and row["origin"]["host"]
    assert Path(row["origin"]["catalog"]).name == "catalog"
    assert row["machine"]["hostname"] == "worker-3"  # where it ran, which on a cluster is not the driver
    assert row["key"] == "k1" and store.keys() == {"k1"} and store.has_key("k1") and not store.has_key("k2")
    assert store.get(run_id)["uid"] == row["uid"] == run_uid(fake_result(1) | {"machine": row["machine"]})


def test_the_same_run_is_stored_once(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    first = store.record(fake_result(1))
    assert store.record(fake_result(1)) == first and store.count() == 1
    assert store.record(fake_result(2)) != first and store.count() == 2


def test_export_then_import_moves_runs_without_duplicates(tmp_path):
    here = ResultsStore(tmp_path / "here.sqlite")
    for i in range(3):
        here.record(fake_result(i, demo="solvers" if i else "caching"), key=f"k{i}")
    exported = tmp_path / "runs.json"
    res = CliRunner().invoke(main, ["results", "--db", str(here.path), "export", "--format", "json", "-o", str(exported)])
    assert res.exit_code == 0, res.output
    there = ResultsStore(tmp_path / "there.sqlite")
    there.record(fake_result(1))  # already has one of them
    res = CliRunner().invoke(main, ["results", "--db", str(there.path), "import", str(exported)])
    assert res.exit_code == 0 and "2 runs added, 1 already present" in res.output, res.output
    assert there.count() == 3 and there.keys() == {"k0", "k2"}
    res = CliRunner().invoke(main, ["results", "--db", str(there.path), "import", str(exported), str(here.path)])
    assert res.exit_code == 0 and "0 runs added, 6 already present" in res.output, res.output
    # the origin travels with the run: the importing store still says who recorded it
    origins = {r["uid"]: r["origin"] for r in there.runs()}
    assert all(o and o.get("catalog") for o in origins.values())


def test_import_the_committed_cpu_runs(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    report = store.import_files([COMMITTED])
    demos = {r["demo"] for r in store.runs()}
    assert report["added"] == len(list(COMMITTED.glob("*.json"))) >= 10 and not report["refused"]
    assert {"solvers", "caching", "quantization"} <= demos
    assert all(r["origin"]["source"] == str(COMMITTED) and r["origin"]["file"].endswith(".json") for r in store.runs())
    assert store.sources() == [(f"imported from {COMMITTED}", report["added"])]
    assert store.import_files([COMMITTED])["added"] == 0


def test_bad_imports_are_refused_one_line_each_and_the_rest_comes_in(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(fake_result(5)))
    (tmp_path / "list.json").write_text(json.dumps([fake_result(6), {"demo": "x"}, 3]))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "new.json").write_text(json.dumps({"format": "diffatlas-runs", "version": 99, "runs": []}))
    db = tmp_path / "r.sqlite"
    files = [good, tmp_path / "list.json", tmp_path / "bad.json", tmp_path / "bin.json", tmp_path / "new.json",
             tmp_path / "missing.json"]
    res = CliRunner().invoke(main, ["results", "--db", str(db), "import", *map(str, files)])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    assert "2 runs added" in res.output and "6 refused" in res.output  # list runs 2 and 3, and four files
    text = res.output
    for expected in ("not JSON", "not UTF-8", "version 99", "no such file", "no 'rows' list", "a int, not a result"):
        assert expected in text, (expected, text)
    assert ResultsStore(db).count() == 2


def test_nothing_importable_is_exit_1(tmp_path):
    res = CliRunner().invoke(main, ["results", "--db", str(tmp_path / "r.sqlite"), "import", str(tmp_path / "none.json")])
    assert res.exit_code == 1 and "no such file" in res.output


def test_an_older_store_gains_the_new_columns_and_uids(tmp_path):
    """A store made before uid/key/origin/machine existed opens, is migrated, and keeps its runs."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, demo TEXT NOT NULL, mode TEXT, created TEXT NOT NULL,
            device TEXT, git TEXT, duration_s REAL, params TEXT NOT NULL, versions TEXT, result TEXT NOT NULL);
        CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, method TEXT NOT NULL,
            metric TEXT NOT NULL, value REAL);""")
        conn.execute("INSERT INTO runs (demo, mode, created, params, result) VALUES (?, ?, ?, ?, ?)",
                     ("solvers", "quick", "2026-01-01T00:00:00Z", "{}", json.dumps(fake_result(1))))
    store = ResultsStore(path)
    row = store.runs()[0]
    assert row["uid"] == run_uid(fake_result(1)) and row["origin"] is None
    assert store.record(fake_result(1)) == row["id"]  # the migrated run is recognised, not stored again
    assert ResultsStore(path).count() == 1  # opening again changes nothing


def test_this_origin_names_the_checkout(tmp_path):
    origin = this_origin()
    assert origin["catalog"].endswith("catalog") and origin["host"]
    if shutil.which("git"):
        assert origin["checkout"] is None or len(origin["checkout"].split("+")[0]) >= 7
