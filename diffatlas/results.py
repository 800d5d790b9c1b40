"""The results store: every demo run, recorded in an embedded SQLite database.

One row per run (demo id, mode, parameters, device, library versions, git
revision, time, duration, the whole result as JSON) and one row per measured
metric (run, method, metric, value), so the app can list past runs and chart
any metric without parsing JSON.

Safe for concurrent writers (two app sessions, the CLI and a benchmark at
once): WAL journal, a busy timeout, and every write in one IMMEDIATE
transaction. The path is $DIFFATLAS_RESULTS, else one database per catalog in
the user cache folder ($DIFFATLAS_CACHE, else ~/.cache/diffatlas), named after
the catalog's folder and a hash of its absolute path, so two checkouts (or two
catalogs) never mix their past runs and no file is written into a checkout.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from .paths import default_catalog_dir
from reference_impls.core.paths import cache_root  # torch-free: the one owner of the cache location
from reference_impls.core.result import json_safe

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    demo TEXT NOT NULL,
    mode TEXT,
    created TEXT NOT NULL,
    device TEXT,
    git TEXT,
    duration_s REAL,
    params TEXT NOT NULL,
    versions TEXT,
    result TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS runs_demo ON runs(demo, created);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id);
"""


class ResultsStoreError(RuntimeError):
    """The results database cannot be opened or read: the file, what happened, and what to do."""

    def __init__(self, path: Path, exc: BaseException):
        text = str(exc)
        if "locked" in text or "busy" in text:
            advice = "another process holds it; wait for it to finish and try again"
        elif "readonly" in text or "unable to open" in text or isinstance(exc, OSError):
            advice = "check the folder exists and is writable, or give another file with --db / $DIFFATLAS_RESULTS"
        else:
            advice = ("it is damaged or not a diffatlas results database; move it aside "
                      f"(e.g. mv {path} {path}.broken) and a new one is made, or give another file with --db")
        super().__init__(f"results database {path}: {text}; {advice}")
        self.path = path


def catalog_store_name(catalog_dir: Path) -> str:
    """results-<checkout folder>-<10 hex of the catalog's absolute path>.sqlite: readable and unique."""
    catalog = Path(catalog_dir).resolve()
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", catalog.parent.name or "root")[:40]
    digest = hashlib.sha256(str(catalog).encode("utf-8")).hexdigest()[:10]
    return f"results-{label}-{digest}.sqlite"


def default_path(catalog_dir: Optional[Path] = None) -> Path:
    """$DIFFATLAS_RESULTS, else the database of `catalog_dir` (default: the default catalog) in the user cache."""
    if os.environ.get("DIFFATLAS_RESULTS"):
        return Path(os.environ["DIFFATLAS_RESULTS"])
    return cache_root() / catalog_store_name(catalog_dir or default_catalog_dir())


def whose(path: Path) -> str:
    """Which runs a results database holds, in words, for `results list` and the app's Past runs."""
    if os.environ.get("DIFFATLAS_RESULTS") and Path(path) == Path(os.environ["DIFFATLAS_RESULTS"]):
        return "the database named by $DIFFATLAS_RESULTS (runs of every catalog that used it)"
    if Path(path) == default_path():
        return f"the runs of catalog {Path(default_catalog_dir()).resolve()}"
    return "a database given by path"


class ResultsStore:
    def __init__(self, path: Optional[Path] = None, timeout: float = 30.0):
        self.path = Path(path) if path else default_path()
        self.timeout = timeout
        if self.path.is_dir():
            raise ResultsStoreError(self.path, IsADirectoryError("is a folder, not a database file"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsStoreError(self.path, exc) from None
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def _connect(self):
        """One connection, closed on exit; any database failure becomes a ResultsStoreError."""
        conn = None
        try:
            conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.row_factory = sqlite3.Row
            yield conn
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            raise ResultsStoreError(self.path, exc) from None
        finally:
            if conn is not None:
                conn.close()

    # -- writing -------------------------------------------------------------
    def record(self, result) -> int:
        """Store one run (a `DemoResult`, or its JSON form); return its id. One metric row per numeric column."""
        clean = json_safe(result.to_json() if hasattr(result, "to_json") else result)
        rows = [dict(r, **(r.get("extra") or {})) for r in clean.get("rows") or []]
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "INSERT INTO runs (demo, mode, created, device, git, duration_s, params, versions, result) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (clean["demo"], clean.get("mode"), clean.get("created") or _now(), clean.get("device"),
                     clean.get("git"), clean.get("duration_s"), json.dumps(clean.get("params", {}), sort_keys=True),
                     json.dumps(clean.get("versions", {}), sort_keys=True), json.dumps(clean, sort_keys=True)),
                )
                run_id = cur.lastrowid
                conn.executemany(
                    "INSERT INTO metrics (run_id, method, metric, value) VALUES (?, ?, ?, ?)",
                    [(run_id, str(row.get("method")), key, float(val))
                     for row in rows for key, val in row.items()
                     if isinstance(val, (int, float)) and not isinstance(val, bool) and val is not None],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(run_id)

    # -- reading -------------------------------------------------------------
    def runs(self, demo: Optional[str] = None, limit: int = 100) -> list[dict]:
        sql = "SELECT id, demo, mode, created, device, git, duration_s, params FROM runs"
        args: list = []
        if demo:
            sql += " WHERE demo = ?"
            args.append(demo)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._connect() as conn:
            out = [dict(r) for r in conn.execute(sql, args)]
            for r in out:
                r["params"] = json.loads(r["params"])
        return out

    def get(self, run_id: int) -> Optional[dict]:
        with self._connect() as conn:
            row = conn.execute("SELECT result FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            result = json.loads(row["result"])
        result["run_id"] = run_id
        return result

    def metrics(self, demo: Optional[str] = None, run_id: Optional[int] = None) -> list[dict]:
        sql = ("SELECT m.run_id, r.demo, r.mode, r.created, r.device, m.method, m.metric, m.value "
               "FROM metrics m JOIN runs r ON r.id = m.run_id")
        where, args = [], []
        if demo:
            where.append("r.demo = ?")
            args.append(demo)
        if run_id is not None:
            where.append("m.run_id = ?")
            args.append(run_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY m.run_id, m.method, m.metric"
        with self._connect() as conn:
            return [dict(r) for r in conn.execute(sql, args)]

    def count(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    # -- export --------------------------------------------------------------
    def export(self, fmt: str = "csv", demo: Optional[str] = None) -> str:
        """All metrics as CSV (one row per run/method/metric) or all runs as JSON."""
        if fmt == "json":
            with self._connect() as conn:
                sql = "SELECT id, result FROM runs" + (" WHERE demo = ?" if demo else "") + " ORDER BY id"
                rows = conn.execute(sql, (demo,) if demo else ()).fetchall()
                runs = [dict(json.loads(r["result"]), run_id=r["id"]) for r in rows]
            return json.dumps(runs, indent=2, sort_keys=True)
        if fmt != "csv":
            raise ValueError(f"unknown export format {fmt!r}; use csv or json")
        buf = io.StringIO()
        fields = ["run_id", "demo", "mode", "created", "device", "method", "metric", "value"]
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        for row in self.metrics(demo):
            writer.writerow({k: row[k] for k in fields})
        return buf.getvalue()


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
