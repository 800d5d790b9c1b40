"""The results store: every demo run, recorded in an embedded SQLite database.

One row per run (demo id, mode, parameters, device, library versions, git
revision, time, duration, the whole result as JSON) and one row per measured
metric (run, method, metric, value), so the app can list past runs and chart
any metric without parsing JSON.

Results travel: every run has a `uid` (a hash of its whole result, so the same
run has the same uid in every store), an `origin` (the catalog and checkout it
was recorded with, and the host that recorded it) and the `machine` it ran on
(from the result: on a cluster the worker, not the driver). `export_runs` and
`import_runs` move runs between stores without duplicates; `import_files` also
reads a single result.json, a folder of them (benchmarks/results/) or another
store's .sqlite file. A sweep's runs carry their run `key`, so a sweep resumes.

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
# Columns added after the first release; a store made before them gains them on open (and its runs a uid).
LATER_COLUMNS = (("uid", "TEXT"), ("key", "TEXT"), ("origin", "TEXT"), ("machine", "TEXT"))
LATER_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS runs_uid ON runs(uid);
CREATE INDEX IF NOT EXISTS runs_key ON runs(key);
"""
EXPORT_FORMAT = "diffatlas-runs"
EXPORT_VERSION = 1
# Keys a store adds to a result when it hands it out; not part of the run, so not part of its uid.
STORE_KEYS = ("run_id", "uid", "origin", "key")


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


def run_uid(result: dict) -> str:
    """The run's identity in every store: sha256 of its result JSON, without what a store adds."""
    core = {k: v for k, v in json_safe(result).items() if k not in STORE_KEYS}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def checkout_revision(folder: Path) -> Optional[str]:
    """The git revision of the checkout holding `folder` (+dirty when tracked files differ), or None."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        rev = out.stdout.strip() if out.returncode == 0 else ""
        if not rev:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def this_origin(catalog_dir: Optional[Path] = None) -> dict:
    """Who records a run: the catalog (and its checkout's revision) and this host; $DIFFATLAS_LABEL names it."""
    import platform

    catalog = Path(catalog_dir or default_catalog_dir()).resolve()
    origin = {"catalog": str(catalog), "checkout": checkout_revision(catalog), "host": platform.node() or None}
    if os.environ.get("DIFFATLAS_LABEL", "").strip():
        origin["label"] = os.environ["DIFFATLAS_LABEL"].strip()[:80]
    return origin


def origin_text(origin: Optional[dict]) -> str:
    """'label or host, catalog @ checkout' in a few words, for tables."""
    if not origin:
        return "?"
    who = origin.get("label") or origin.get("host") or "?"
    where = Path(origin["catalog"]).parent.name if origin.get("catalog") else origin.get("source", "")
    rev = origin.get("checkout")
    return f"{who}: {where}" + (f" @ {rev}" if rev else "")


def run_from(run: dict) -> str:
    """Where a run came from, in a few words: the machine it ran on, else who recorded or imported it."""
    machine = run.get("machine") or {}
    if machine.get("hostname"):
        return machine["hostname"]
    origin = run.get("origin") or {}
    if origin.get("catalog") or origin.get("host"):
        return origin_text(origin)
    return f"imported from {origin['source']}" if origin.get("source") else "?"


class ImportReport(dict):
    """added / skipped (already present) / refused (with reasons), per import."""

    def __init__(self):
        super().__init__(added=0, skipped=0, refused=[])

    def text(self) -> str:
        out = f"{self['added']} runs added, {self['skipped']} already present"
        if self["refused"]:
            out += f", {len(self['refused'])} refused"
        return out


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
            self._migrate(conn)

    @staticmethod
    def _migrate(conn) -> None:
        """Add the columns of later versions to an older store; give its runs their uid."""
        have = {row["name"] for row in conn.execute("PRAGMA table_info(runs)")}
        missing = [(name, kind) for name, kind in LATER_COLUMNS if name not in have]
        if missing:
            conn.execute("BEGIN IMMEDIATE")
            try:
                have = {row["name"] for row in conn.execute("PRAGMA table_info(runs)")}  # another process may have won
                for name, kind in missing:
                    if name not in have:
                        conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
                for row in conn.execute("SELECT id, result FROM runs WHERE uid IS NULL").fetchall():
                    conn.execute("UPDATE runs SET uid = ? WHERE id = ?",
                                 (run_uid(json.loads(row["result"])), row["id"]))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.executescript(LATER_INDEXES)

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
    def record(self, result, key: Optional[str] = None, origin: Optional[dict] = None) -> int:
        """Store one run (a `DemoResult`, or its JSON form); return its id. One metric row per numeric column.

        `key` is a sweep's run key; `origin` who records it (default: this catalog and host). A run
        already in the store (same uid) is not stored twice: its existing id is returned.
        """
        clean = json_safe(result.to_json() if hasattr(result, "to_json") else result)
        uid = run_uid(clean)
        origin = json_safe(origin if origin is not None else clean.get("origin") or this_origin())
        key = key if key is not None else clean.get("key")
        clean = {k: v for k, v in clean.items() if k not in STORE_KEYS}
        rows = [dict(r, **(r.get("extra") or {})) for r in clean.get("rows") or []]
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = conn.execute("SELECT id FROM runs WHERE uid = ?", (uid,)).fetchone()
                if found is not None:
                    conn.execute("COMMIT")
                    return int(found["id"])
                cur = conn.execute(
                    "INSERT INTO runs (demo, mode, created, device, git, duration_s, params, versions, result, "
                    "uid, key, origin, machine) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (clean["demo"], clean.get("mode"), clean.get("created") or _now(), clean.get("device"),
                     clean.get("git"), clean.get("duration_s"), json.dumps(clean.get("params", {}), sort_keys=True),
                     json.dumps(clean.get("versions", {}), sort_keys=True), json.dumps(clean, sort_keys=True),
                     uid, key, json.dumps(origin, sort_keys=True),
                     json.dumps(clean.get("machine"), sort_keys=True) if clean.get("machine") else None),
                )
                run_id = cur.lastrowid
                conn.executemany(
                    "INSERT INTO metrics (run_id, method, metric, value) VALUES (?, ?, ?, ?)",
                    [(run_id, str(row.get("method")), k, float(val))
                     for row in rows for k, val in row.items()
                     if isinstance(val, (int, float)) and not isinstance(val, bool) and val is not None],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(run_id)

    def keys(self) -> set[str]:
        """The run keys of every sweep run in the store (a sweep skips these)."""
        with self._connect() as conn:
            return {r["key"] for r in conn.execute("SELECT key FROM runs WHERE key IS NOT NULL")}

    def has_key(self, key: str) -> bool:
        with self._connect() as conn:
            return conn.execute("SELECT 1 FROM runs WHERE key = ? LIMIT 1", (key,)).fetchone() is not None

    # -- reading -------------------------------------------------------------
    def runs(self, demo: Optional[str] = None, limit: int = 100) -> list[dict]:
        sql = "SELECT id, demo, mode, created, device, git, duration_s, params, uid, key, origin, machine FROM runs"
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
                r["origin"] = json.loads(r["origin"]) if r["origin"] else None
                r["machine"] = json.loads(r["machine"]) if r["machine"] else None
        return out

    def results(self, demo: Optional[str] = None, limit: Optional[int] = None) -> list[dict]:
        """Every stored result (oldest first), each with its run_id, uid, key and origin added."""
        sql = "SELECT id, uid, key, origin, result FROM runs" + (" WHERE demo = ?" if demo else "") + " ORDER BY id"
        args: list = [demo] if demo else []
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
            return [dict(json.loads(r["result"]), run_id=r["id"], uid=r["uid"], key=r["key"],
                         origin=json.loads(r["origin"]) if r["origin"] else None) for r in rows]

    def get(self, run_id: int) -> Optional[dict]:
        with self._connect() as conn:
            row = conn.execute("SELECT result, uid, key, origin FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                return None
            result = json.loads(row["result"])
            result.update(uid=row["uid"], key=row["key"], origin=json.loads(row["origin"]) if row["origin"] else None)
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

    def sources(self) -> list[tuple[str, int]]:
        """How many runs came from where (`run_from`), most first: whose runs a shared store holds."""
        from collections import Counter

        with self._connect() as conn:
            rows = conn.execute("SELECT origin, machine FROM runs").fetchall()
            counts = Counter(run_from({"origin": json.loads(r["origin"]) if r["origin"] else None,
                                       "machine": json.loads(r["machine"]) if r["machine"] else None}) for r in rows)
        return counts.most_common()

    def count(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    # -- export --------------------------------------------------------------
    def export(self, fmt: str = "csv", demo: Optional[str] = None) -> str:
        """All metrics as CSV (one row per run/method/metric) or all runs as JSON."""
        if fmt == "json":
            return json.dumps(self.export_runs(demo), indent=1, sort_keys=True)
        if fmt != "csv":
            raise ValueError(f"unknown export format {fmt!r}; use csv or json")
        buf = io.StringIO()
        fields = ["run_id", "demo", "mode", "created", "device", "method", "metric", "value"]
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        for row in self.metrics(demo):
            writer.writerow({k: row[k] for k in fields})
        return buf.getvalue()

    def export_runs(self, demo: Optional[str] = None) -> dict:
        """Every run (or one demo's) as a document another store can import without duplicates."""
        return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "exported": _now(), "from": this_origin(),
                "runs": self.results(demo)}

    # -- import --------------------------------------------------------------
    def import_runs(self, data, source: str = "", report: Optional[ImportReport] = None,
                    given: Optional[str] = None) -> ImportReport:
        """Add the runs of an export document, a list of results or one result; skip those present (same uid).

        A run without an origin is labelled with where it was imported from; one that is not a
        result at all is refused with the reason, and the others still come in.
        """
        report = report if report is not None else ImportReport()
        for i, run in enumerate(_runs_of(data, source)):
            where = f"{source} run {i + 1}" if source else f"run {i + 1}"
            problem = _not_a_run(run)
            if problem:
                report["refused"].append(f"{where}: {problem}")
                continue
            with self._connect() as conn:
                present = conn.execute("SELECT 1 FROM runs WHERE uid = ?", (run_uid(run),)).fetchone()
            if present:
                report["skipped"] += 1
                continue
            origin = run.get("origin") or {"source": given or source or "import", "file": Path(source).name or None,
                                           "imported": _now(), "host": None, "imported_by": platform_node()}
            self.record(run, key=run.get("key"), origin=origin)
            report["added"] += 1
        return report

    def import_files(self, paths) -> ImportReport:
        """Import export documents, result.json files, folders of them, or other stores' .sqlite files."""
        report = ImportReport()
        for path in map(Path, paths):
            files = sorted(p for p in path.glob("*.json") if p.is_file()) if path.is_dir() else [path]
            if path.is_dir() and not files:
                report["refused"].append(f"{path}: no .json files in this folder")
            for file in files:
                if file.resolve() == self.path.resolve():
                    report["refused"].append(f"{file}: is this store itself")
                    continue
                try:
                    self.import_runs(_read_runs_file(file), str(file), report, given=str(path))
                except (OSError, ValueError, ResultsStoreError) as exc:
                    report["refused"].append(f"{file}: {exc}")
        return report


MAX_IMPORT_BYTES = 200 * 2**20


def platform_node() -> Optional[str]:
    import platform

    return platform.node() or None


def _read_runs_file(path: Path):
    """The JSON of an export or result file, or the runs of another store (.sqlite)."""
    if not path.is_file():
        raise ValueError("no such file" if not path.exists() else "not a regular file")
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"SQLite format 3"):
        return ResultsStore(path).export_runs()
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise ValueError(f"larger than {MAX_IMPORT_BYTES // 2**20} MB; split the export by demo (--demo)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text: give a diffatlas export (results export --format json), "
                         "a result.json or a results .sqlite file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON (line {exc.lineno}: {exc.msg})") from None


def _runs_of(data, source: str) -> list:
    if isinstance(data, dict) and data.get("format") == EXPORT_FORMAT:
        if data.get("version") != EXPORT_VERSION:
            raise ValueError(f"export version {data.get('version')!r}; this diffatlas reads "
                             f"version {EXPORT_VERSION}: update diffatlas")
        return list(data.get("runs") or [])
    if isinstance(data, list):
        return data
    return [data]


def _not_a_run(run) -> Optional[str]:
    """Why this is not a diffatlas result (None when it is one)."""
    if not isinstance(run, dict):
        return f"a {type(run).__name__}, not a result object"
    if not isinstance(run.get("demo"), str) or not run["demo"].strip():
        return "no 'demo' field: not a diffatlas result"
    if not isinstance(run.get("rows"), list):
        return "no 'rows' list: not a diffatlas result"
    if not isinstance(run.get("params", {}), dict):
        return "'params' is not an object"
    return None


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
