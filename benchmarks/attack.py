"""Hostile and broken input, end to end: every case through the real command line, classified.

    python benchmarks/attack.py            # the table (Markdown) on standard output
    python benchmarks/attack.py --verbose  # plus each case's outcome and the first line it printed

Each case builds a fresh copy of a small catalog (tests/fixtures/catalog with
the repository's taxonomy), plants one bad input, runs one `diffatlas`
command in a subprocess with a time limit, and classifies what happened:

- **refused clearly**: the command exited 1 or 2 (or validate listed a problem)
  and named the file, field or entry, with no traceback;
- **accepted**: the command succeeded although the input is bad (a silent change of meaning);
- **crashed**: a traceback, another exit status, or a hang past the time limit;
- **data lost**: a file that existed before the command changed or vanished, or a
  0-byte / partial file was left where the command refused;
- **executed**: for link and markup payloads, the rendered docs/ page, turned into
  HTML by a CommonMark renderer (markdown-it-py), holds an active element: a
  `<script>`, an `on...=` handler, or a `javascript:` / `data:` link target.

Some cases are valid input that must be accepted (e.g. a LaTeX accent in a
BibTeX author): for those, "refused" is the failure and "accepted" the pass;
the table counts them in their own column. A script, not a test: the unit
tests (tests/test_hardening_*.py, tests/test_bibtex_hostile.py, ...) pin each
defect; this shows the whole surface at once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "catalog"
TAXONOMY = REPO / "taxonomy"
TIMEOUT = 30.0

GOOD = """id: {id}
title: {title}
year: 2023
authors:
- Ada Lovelace
venue: ICLR
url: {url}
summary: A test entry whose summary is long enough to pass the validator's minimum length.
tags:
  ulhaq2022:
  - eps.scheduling
  shen2025:
  - algorithm.sampling.solver
"""


def yq(text: str) -> str:
    """A YAML double-quoted scalar that holds exactly `text` (escapes for quotes, newlines and non-ASCII)."""
    body = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else
                   {"\"": '\\"', "\\": "\\\\", "\n": "\\n"}.get(c, f"\\u{ord(c):04x}") for c in text)
    return f'"{body}"'


def paper_yaml(pid: str = "hostile-2023", title: str = "A Hostile Test Entry", url: str = "https://example.org/p",
               **replace: str) -> str:
    text = GOOD.format(id=pid, title=title, url=url)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


@dataclass
class Case:
    input_class: str
    name: str
    plant: Callable[[Path], list[str]]  # builds the bad input in a repo copy; returns the diffatlas arguments
    valid: bool = False  # True: a faithful reading must accept it
    expect: dict = field(default_factory=dict)  # for a valid entry: fields the written file must hold
    check_html: bool = False  # render docs/ and look for active HTML
    needs: str = ""  # a module the case needs (skipped, and said so, when absent)


@dataclass
class Outcome:
    case: Case
    verdict: str
    detail: str = ""


# -- planting helpers ----------------------------------------------------------------------------
def papers(repo: Path) -> Path:
    return repo / "catalog" / "papers"


def plant_file(name: str, content: str | bytes, command: tuple[str, ...] = ("validate",)):
    def plant(repo: Path) -> list[str]:
        path = papers(repo) / name
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return list(command)
    return plant


def plant_bib(content: str | bytes, command: str = "add"):
    def plant(repo: Path) -> list[str]:
        path = repo / "input.bib"
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        if command == "add":
            return ["add", "--bibtex", str(path), "--no-interactive", "--summary",
                    "A test entry whose summary is long enough to pass the validator.",
                    "--tag", "ulhaq2022:eps.scheduling", "--tag", "shen2025:algorithm.sampling.solver"]
        return ["bib", "import", str(path)]
    return plant


def plant_special(kind: str):
    def plant(repo: Path) -> list[str]:
        path = papers(repo) / f"special-{kind}.yaml"
        if kind == "directory":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "dangling symlink":
            path.symlink_to(repo / "nowhere.yaml")
        elif kind == "symlink outside":
            outside = repo / "outside.yaml"
            outside.write_text(paper_yaml("special-symlink outside"))
            path.symlink_to(outside)
        return ["validate"]
    return plant


def plant_db(kind: str, command: tuple[str, ...]):
    def plant(repo: Path) -> list[str]:
        db = repo / "results.sqlite"
        if kind == "random bytes":
            db.write_bytes(os.urandom(8192))
        elif kind == "zero bytes":
            db.write_bytes(b"")
        elif kind == "truncated":
            with sqlite3.connect(db) as conn:
                conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, demo TEXT, result TEXT)")
                conn.executemany("INSERT INTO runs (demo, result) VALUES (?, ?)", [("x", "y" * 4000)] * 50)
            data = db.read_bytes()
            db.write_bytes(data[: len(data) // 3])
        elif kind == "a folder":
            db.mkdir()
        elif kind == "text file":
            db.write_text("this is not a database\n")
        return ["results", "--db", str(db), *command]
    return plant


def plant_args(*args: str):
    return lambda repo: list(args)


def plant_render(kind: str):
    def plant(repo: Path) -> list[str]:
        docs = repo / "docs"
        docs.mkdir(exist_ok=True)
        if kind == "symlink in docs":
            victim = repo / "victim.txt"
            victim.write_text("precious\n")
            (docs / "shen2025.md").symlink_to(victim)
            return ["render", "--out", str(docs)]
        if kind == "other catalog":
            other = repo / "other"
            shutil.copytree(repo / "catalog", other / "catalog")
            return ["render", "--catalog", str(other / "catalog")]
        return ["render"]
    return plant


def bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    lines.append("title: *j")
    lines.append("id: bomb-2023")
    return "\n".join(lines) + "\n"


XSS_URLS = [
    "javascript:alert(1)",
    "https://example.org/\n<img src=x onerror=alert(1)>",
    "https://example.org/\n<img/src=x/onerror=alert(1)>",
    "https://example.org/\"><script>alert(1)</script>",
    "https://arxiv.org@evil.example/abs/2010.02502",
    "data:text/html,<script>alert(1)</script>",
    "https://example.org/ space",
    "https://example.org/<svg/onload=alert(1)>",
    "JaVaScRiPt:alert(1)",
    "https://example.org/\u202e",
    "vbscript:msgbox(1)",
]
XSS_TEXT = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<a href='javascript:alert(1)'>x</a>",
    "&lt;script&gt;",
    "<svg onload=alert(1)>",
    "Title \u202e gnp.exe",
    "Title with a C1 control \u0085 here",
    "Title with a line separator \u2028 here",
    "![x](https://evil.example/pixel.png)",
]
BIB = {
    "missing comma": "@inproceedings{k1,\n title = {A Title}\n author = {Ada Lovelace and Alan Turing},\n year = {2023},\n"
                     " booktitle = {ICLR},\n url = {https://example.org/k1}\n}\n",
    "undefined macro": "@inproceedings{k3,\n title = {Undefined Macro Paper},\n author = {Ada Lovelace},\n year = {2024},\n"
                       " booktitle = neurips,\n url = {https://example.org/k3}\n}\n",
    "and others": "@article{k4,\n title = {And Others Paper},\n author = {Ada Lovelace and others},\n year = {2023},\n"
                  " journal = {TMLR},\n url = {https://example.org/k4}\n}\n",
    "unknown month": "@article{k5,\n title = {Unknown Month Paper},\n author = {Ada Lovelace},\n year = {2023},\n"
                     " month = {Smarch},\n journal = {TMLR},\n url = {https://example.org/k5}\n}\n",
    "stray closing brace": "@article{k7,\n title = {Stray} Brace Paper},\n author = {Ada Lovelace},\n year = {2023},\n"
                           " journal = {TMLR},\n url = {https://example.org/k7}\n}\n",
    "unbalanced braces": "@article{k9,\n title = {{Unbalanced Paper},\n author = {Ada Lovelace},\n year = {2023}\n",
    "empty file": "",
    "not bibtex at all": "hello, I am not BibTeX\n",
    "huge title": "@article{k10,\n title = {" + "A" * 200000 + "},\n author = {Ada Lovelace},\n year = {2023},\n"
                  " url = {https://example.org/k10}\n}\n",
}
BIB_VALID = {
    "crossref child only year in parent": "@inproceedings{k8,\n title = {Crossref Child Paper},\n author = {Ada Lovelace},\n"
                                          " crossref = {conf},\n url = {https://example.org/k8}\n}\n"
                                          "@proceedings{conf,\n title = {Proceedings of a Conference},\n year = {2023},\n"
                                          " booktitle = {Proceedings of a Conference}\n}\n",
    "comment inside entry": "@article{k6,\n title = {Comment Paper},\n % a comment\n author = {Ada Lovelace},\n"
                            " year = {2023},\n journal = {TMLR},\n url = {https://example.org/k6}\n}\n",
    "string concatenation": '@string{iclr = "ICLR"}\n@inproceedings{k2,\n title = {Concatenated Venue Paper},\n'
                            ' author = {Ada Lovelace},\n year = {2024},\n booktitle = iclr # " 2024",\n'
                            ' url = {https://example.org/k2}\n}\n',
    "latex accents": "@article{v1,\n title = {G{\\\"o}del and Erd{\\H{o}}s Meet Diffusion},\n"
                     " author = {Kurt G{\\\"o}del and S{\\o}ren Kierkegaard},\n year = {2023},\n journal = {TMLR},\n"
                     " url = {https://example.org/v1}\n}\n",
    "math in title": "@article{v2,\n title = {An $\\mathcal{O}(n)$ Sampler},\n author = {Ada Lovelace},\n year = {2023},\n"
                     " journal = {TMLR},\n url = {https://example.org/v2}\n}\n",
    "arXiv eprint entry": "@misc{v3,\n title = {An arXiv Preprint About Diffusion},\n author = {Ada Lovelace},\n"
                          " year = {2023},\n eprint = {2301.00001},\n archivePrefix = {arXiv},\n"
                          " url = {https://arxiv.org/abs/2301.00001}\n}\n",
}


BIB_EXPECT = {  # what a faithful reading writes
    "latex accents": {"title": "G\u00f6del and Erd\u0151s Meet Diffusion", "authors": ["Kurt G\u00f6del", "S\u00f8ren Kierkegaard"]},
    "math in title": {"title": "An \U0001d4aa(n) Sampler"},  # decoded: MATHEMATICAL SCRIPT CAPITAL O
    "arXiv eprint entry": {"arxiv": "2301.00001"},
    "string concatenation": {"venue": "ICLR", "year": 2024},  # "ICLR 2024" in the catalog's short form
    "comment inside entry": {"authors": ["Ada Lovelace"], "venue": "TMLR"},
    "crossref child only year in parent": {"year": 2023, "venue": "Proceedings of a Conference"},
}
# Markdown syntax in a title is plain text to the catalog: accepted, and inert wherever it is shown.
INERT_TEXT = ("[click](javascript:alert(1))", "![x](https://evil.example/pixel.png)")


def cases() -> list[Case]:
    out: list[Case] = []
    add = out.append
    # YAML files in papers/
    # with a bomb beside it, a valid entry must still go in (the bomb refused unread, and named)
    add(Case("YAML", "alias bomb (billion laughs) in an invalid file, then add", lambda repo: (
        plant_file("bomb-2023.yaml", bomb())(repo), plant_bib(BIB_VALID["latex accents"])(repo))[1], valid=True))
    add(Case("YAML", "alias bomb, validate", plant_file("bomb-2023.yaml", bomb())))
    add(Case("YAML", "alias bomb, bib import", lambda repo: (
        plant_file("bomb-2023.yaml", bomb())(repo), plant_bib(BIB_VALID["latex accents"], "import")(repo))[1],
        valid=True))
    add(Case("YAML", "duplicate key", plant_file("hostile-2023.yaml", paper_yaml() + "title: Another Title\n")))
    add(Case("YAML", "invalid UTF-8", plant_file("hostile-2023.yaml", paper_yaml().encode() .replace(b"Hostile", b"Host\xffile"))))
    add(Case("YAML", "python object tag", plant_file("hostile-2023.yaml", paper_yaml() + "notes: !!python/object/apply:os.system ['echo pwned']\n")))
    add(Case("YAML", "malformed syntax", plant_file("hostile-2023.yaml", paper_yaml() + "tags: [unclosed\n")))
    add(Case("YAML", "top level is a list", plant_file("hostile-2023.yaml", "- a\n- b\n")))
    add(Case("YAML", "deep nesting", plant_file("hostile-2023.yaml", "notes: " + "[" * 5000 + "]" * 5000 + "\n")))
    add(Case("YAML", "unquoted arXiv id (a float)", plant_file("hostile-2023.yaml", paper_yaml() + "arxiv: 2010.02502\n")))
    add(Case("YAML", "authors as a string", plant_file("hostile-2023.yaml", paper_yaml(**{"authors:\n- Ada Lovelace": "authors: Ada Lovelace"}))))
    add(Case("YAML", "tags as a string", plant_file("hostile-2023.yaml", paper_yaml().split("tags:")[0] + "tags: eps.scheduling\n")))
    add(Case("YAML", "empty file", plant_file("hostile-2023.yaml", "")))
    add(Case("YAML", "NaN reported value", plant_file("hostile-2023.yaml", paper_yaml() + "reported:\n- metric: FID\n  value: .nan\n  source: paper\n")))
    # files that are not regular files, other extensions
    for kind in ("directory", "fifo", "dangling symlink"):
        add(Case("files", f"a {kind} named *.yaml", plant_special(kind)))
    add(Case("files", "upper-case .YAML extension", plant_file("hostile-2023.YAML", paper_yaml())))
    add(Case("files", "editor leftover .yaml.orig", plant_file("hostile-2023.yaml.orig", paper_yaml())))
    add(Case("files", "file over the size limit", plant_file("hostile-2023.yaml", paper_yaml() + "notes:\n" + "- x\n" * 400000)))
    # text fields
    for text in XSS_TEXT:
        add(Case("text/markup", f"title {text[:30]!r}", plant_file("hostile-2023.yaml", paper_yaml(title=yq(text))),
                 check_html=True, valid=text in INERT_TEXT))
    add(Case("text/markup", "quadratic '<x' scan (300 KB summary)", plant_file("hostile-2023.yaml", paper_yaml(**{
        "summary: A test entry": "summary: " + "<x" * 150000 + " A test entry"}))))
    add(Case("text/markup", "1 MB title", plant_file("hostile-2023.yaml", paper_yaml(title="T" * 1_000_000))))
    # URLs
    for url in XSS_URLS:
        add(Case("URL", f"url {url[:40]!r}", plant_file("hostile-2023.yaml", paper_yaml(url=yq(url))), check_html=True))
    add(Case("URL", "javascript: in listed_in url", plant_file("hostile-2023.yaml", paper_yaml() + "listed_in:\n- survey: shen2025\n  section: Solver\n  url: javascript:alert(1)\n"), check_html=True))
    add(Case("URL", "bibtex_extra key injecting a title", plant_file("hostile-2023.yaml", paper_yaml() + "bibtex_extra:\n  title: Injected\n")))
    add(Case("URL", "bibtex_extra key with a brace", plant_file("hostile-2023.yaml", paper_yaml() + "bibtex_extra:\n  'a}b': x\n")))
    # duplicates that only add used to catch
    add(Case("duplicates", "arXiv id only in the URL (abs/...v2)", plant_file("hostile-2023.yaml", paper_yaml(title="Another Title Entirely", url="https://arxiv.org/abs/2010.02502v2"))))
    add(Case("duplicates", "arXiv id only in the URL (pdf/...v3.pdf)", plant_file("hostile-2023.yaml", paper_yaml(title="Another Title Entirely", url="https://arxiv.org/pdf/2010.02502v3.pdf"))))
    add(Case("duplicates", "same URL as another paper", plant_file("hostile-2023.yaml", paper_yaml(title="Another Title Entirely", url="https://arxiv.org/abs/2010.02502"))))
    add(Case("duplicates", "homoglyph title (Cyrillic letters)", plant_file("hostile-2023.yaml", paper_yaml(title="D\u0435noising Diffusion Impli\u0441it Models"))))
    # BibTeX
    for name, text in BIB.items():
        add(Case("BibTeX", f"add: {name}", plant_bib(text)))
    add(Case("BibTeX", "add: non-UTF-8 file", plant_bib(BIB_VALID["latex accents"].encode().replace(b"Kurt", b"K\xfcrt"))))
    add(Case("BibTeX", "import: duplicate keys", plant_bib(BIB_VALID["latex accents"] + BIB_VALID["latex accents"].replace("G{\\\"o}del and", "Another"), "import")))
    add(Case("BibTeX", "import: one good and one bad entry", plant_bib(BIB_VALID["math in title"] + BIB["missing comma"], "import")))
    for name, text in BIB_VALID.items():
        add(Case("BibTeX", f"add (valid): {name}", plant_bib(text), valid=True, expect=BIB_EXPECT.get(name, {})))
    # results store
    for kind in ("random bytes", "truncated", "a folder", "text file", "zero bytes"):
        for command in (("list",), ("show", "1"), ("export",)):
            add(Case("results DB", f"{kind}: results {' '.join(command)}", plant_db(kind, command),
                     valid=(kind == "zero bytes" and command != ("show", "1"))))  # an empty store has no run 1
    # demo parameters and options (checked before anything heavy loads)
    for args in (("-p", "steps=nan"), ("-p", "steps=inf"), ("-p", "n_samples=-1"), ("-p", "n_samples=4.5"),
                 ("-p", "nosuch=1"), ("-p", "steps"), ("--device", "tpu"), ("--device", "cuda:7"),
                 ("--dtype", "fp8"), ("--out", "/proc/forbidden")):
        add(Case("demo params", f"demo run solvers {' '.join(args)}", plant_args("demo", "run", "solvers", *args),
                 needs="torch"))
    # writes
    add(Case("writes", "render through a symlink in docs/", plant_render("symlink in docs")))
    add(Case("writes", "render --catalog OTHER writes next to OTHER", plant_render("other catalog"), valid=True))
    return out


# -- running and classifying -----------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file() or ".venv" in path.parts:
            continue
        out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def active_html(repo: Path) -> str:
    """The first active element in any rendered docs page turned into HTML by CommonMark, or ''."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark")
    for page in sorted((repo / "docs").glob("*.md")):
        html = renderer.render(page.read_text(encoding="utf-8", errors="replace"))
        found = re.search(r"<script|\son\w+\s*=|href=\"\s*(javascript|data|vbscript):|src=\"\s*javascript:", html, re.I)
        if found:
            return f"{page.name}: {found.group(0)}"
    return ""


def run_case(case: Case, workdir: Path) -> Outcome:
    if case.needs:
        try:
            __import__(case.needs)
        except ImportError:
            return Outcome(case, "skipped", f"needs {case.needs}")
    repo = workdir / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(FIXTURE, repo / "catalog")
    argv = case.plant(repo)
    before = snapshot(repo)
    env = dict(os.environ, DIFFATLAS_CATALOG=str(repo / "catalog"), DIFFATLAS_TAXONOMY=str(TAXONOMY),
               DIFFATLAS_RESULTS=str(repo / "default-results.sqlite"), DIFFATLAS_CACHE=str(workdir / "cache"))
    command = [sys.executable, "-m", "diffatlas", *argv]
    if argv[0] in ("validate", "add", "render", "bib", "sources") and "--catalog" not in argv:
        command += ["--catalog", str(repo / "catalog"), "--taxonomy", str(TAXONOMY)] if argv[0] != "bib" else []
    if argv[:2] == ["bib", "import"]:
        command += ["--catalog", str(repo / "catalog"), "--taxonomy", str(TAXONOMY)]
    start = time.monotonic()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT, cwd=repo,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return Outcome(case, "crashed", f"hang: no answer in {TIMEOUT:.0f} s")
    seconds = time.monotonic() - start
    text = proc.stdout + proc.stderr
    first = next((line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()), "")
    detail = f"exit {proc.returncode}, {seconds:.1f} s: {first[:160]}"
    after = snapshot(repo)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    changed = [n for n in changed if not n.startswith(("docs/", "other/docs/")) or "victim" in n]
    empty_digest = hashlib.sha256(b"").hexdigest()
    changed = [n for n in changed if not (n == "results.sqlite" and before[n] == empty_digest)]  # an empty file becomes a store
    empty = [n for n in after if n not in before and (repo / n).stat().st_size == 0 and not n.endswith((".sqlite", "-wal", "-shm"))]
    if "Traceback (most recent call last)" in text or proc.returncode not in (0, 1, 2) or proc.returncode < 0:
        return Outcome(case, "crashed", detail)
    if case.name.startswith("render through a symlink") and (repo / "victim.txt").read_text() != "precious\n":
        return Outcome(case, "data lost", "the file behind the symlink was overwritten")
    if case.name.startswith("render --catalog OTHER") and not (repo / "other" / "docs").is_dir():
        return Outcome(case, "data lost" if (repo / "docs").is_dir() else "refused clearly",
                       "render wrote docs/ somewhere other than next to the chosen catalog")
    lost = [n for n in changed if not n.startswith("catalog/papers/") or argv[0] not in ("add", "bib")] + empty
    if argv[0] in ("add", "bib") and proc.returncode != 0:
        lost += [n for n in after if n not in before and n.startswith("catalog/papers/")]
    if lost:
        return Outcome(case, "data lost", f"{detail}; changed or left: {', '.join(sorted(lost)[:3])}")
    if case.check_html:
        subprocess.run([sys.executable, "-m", "diffatlas", "render", "--catalog", str(repo / "catalog"), "--taxonomy",
                        str(TAXONOMY), "--out", str(repo / "docs")], capture_output=True, env=env, timeout=TIMEOUT)
        hit = active_html(repo)
        if hit:
            return Outcome(case, "executed", hit)
    refused = proc.returncode in (1, 2) or (argv[0] == "validate" and "FAILED" in text)
    if case.valid and case.expect and not refused:
        misread = _misread(repo, before, case.expect)
        if misread:
            return Outcome(case, "accepted", f"misread: {misread}")
    if case.valid:
        return Outcome(case, "accepted (valid)" if not refused else "refused (valid!)", detail)
    return Outcome(case, "refused clearly" if refused else "accepted", detail)


def _misread(repo: Path, before: dict, expect: dict) -> str:
    """'' when the file the command wrote holds the expected values, else what differs."""
    import yaml

    written = [p for p in papers(repo).glob("*.yaml") if str(p.relative_to(repo)) not in before]
    if len(written) != 1:
        return f"{len(written)} files written"
    data = yaml.safe_load(written[0].read_text(encoding="utf-8"))
    wrong = {k: data.get(k) for k, v in expect.items() if data.get(k) != v}
    return ", ".join(f"{k}={v!r} (expected {expect[k]!r})" for k, v in wrong.items())


COLUMNS = ("tried", "refused clearly", "accepted", "crashed", "data lost", "executed", "valid accepted", "valid refused")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--only", help="run only cases whose class or name contains this text")
    args = parser.parse_args(argv)
    selected = [c for c in cases() if not args.only or args.only.lower() in (c.input_class + " " + c.name).lower()]
    table: dict[str, Counter] = defaultdict(Counter)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="diffatlas-attack-") as tmp:
        for case in selected:
            outcome = run_case(case, Path(tmp))
            outcomes.append(outcome)
            row = table[case.input_class]
            if outcome.verdict == "skipped":
                continue
            row["tried"] += 1
            key = {"accepted (valid)": "valid accepted", "refused (valid!)": "valid refused"}.get(outcome.verdict, outcome.verdict)
            row[key] += 1
            if args.verbose:
                print(f"[{outcome.verdict:>16}] {case.input_class}: {case.name}\n{'':>19}{outcome.detail}", file=sys.stderr)
    print("| input class | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    total = Counter()
    for cls, row in table.items():
        total.update(row)
        print(f"| {cls} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    print("| **all** | " + " | ".join(f"**{total[c]}**" for c in COLUMNS) + " |")
    skipped = [o for o in outcomes if o.verdict == "skipped"]
    if skipped:
        print(f"\n{len(skipped)} case(s) skipped: " + "; ".join(f"{o.case.name} ({o.detail})" for o in skipped))
    bad = [o for o in outcomes if o.verdict in ("crashed", "data lost", "executed", "accepted", "refused (valid!)")]
    for o in bad:
        print(f"- {o.verdict}: {o.case.input_class} / {o.case.name}: {o.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(main())
