"""Issue 13, files, writes and duplicates: hostile catalog files are refused with file, field and fix;
no write leaves a partial or 0-byte file; `render` writes only beside the chosen catalog and never
through a symlink; one duplicate rule on every path.

The hostile inputs are module-level lists so an attack runner can reuse them.
"""

from __future__ import annotations

import builtins
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from diffatlas import yamlio
from diffatlas.bibimport import import_records
from diffatlas.catalog import load_catalog
from diffatlas.cli import main
from diffatlas.contribute import prepare
from diffatlas.importers import SourceEntry
from diffatlas.merge import MatchIndex, merge_entries

from .helpers import REPO, TAXONOMY, make_catalog, paper, write_paper

TAGS = {"ulhaq2022": ["eps.scheduling"], "shen2025": ["algorithm.sampling.solver"]}


def _bomb(levels: int, width: int = 10) -> str:
    """A billion-laughs document: `title` expands to width**levels strings."""
    lines = ['id: bomb-2023', 'a0: &a0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    lines.append(f"title: *a{levels}")
    return "\n".join(lines) + "\n"


# -- hostile inputs -------------------------------------------------------------------------
# (case, file text) : YAML anchors, aliases and merge keys; refused before anything is expanded.
ALIAS_CASES = [
    ("billion laughs (10**6 titles)", _bomb(6)),
    ("alias to a scalar", 'id: alias-2023\nt: &t "Some Paper Title"\ntitle: *t\n'),
    ("alias to a mapping", "id: alias-2023\nbase: &b {ulhaq2022: [eps.scheduling]}\ntags: *b\n"),
    ("merge key from an alias", "id: alias-2023\nbase: &b {title: Some Paper Title}\n<<: *b\n"),
    ("inline merge key", "id: alias-2023\n<<: {title: Some Paper Title}\n"),
    ("recursive alias", "id: alias-2023\ntitle: &r [*r]\n"),
]
# (case, file text, the field named, its line)
DUPLICATE_KEY_CASES = [
    ("title twice", "id: dup-2023\ntitle: First Title Given\ntitle: Second Title Given\n", "title", 3),
    ("year twice, 2022 then 2023", "id: dup-2023\nyear: 2022\nyear: 2023\n", "year", 3),
    ("tree twice in tags", "id: dup-2023\ntags:\n  shen2025: [system.caching]\n  shen2025: [algorithm]\n", "shen2025", 4),
    ("section twice in a listing", "id: dup-2023\nlisted_in:\n- survey: shen2025\n  section: A\n  section: B\n", "section", 5),
    ("same key spelled as 1 and 01", "id: dup-2023\nbibtex_extra: {1: a, 01: b}\n", "1", 2),
]
# (case, file bytes, byte offset of the first bad byte)
BAD_UTF8_CASES = [
    ("latin-1 byte", b"id: bad-2023\ntitle: G\xf6del Sampler\n", 21),
    ("stray continuation byte", b"id: bad-2023\ntitle: \x80x\n", 20),
    ("overlong encoding of '/'", b"id: bad-2023\ntitle: a\xc0\xafb\n", 21),
    ("encoded surrogate", b"id: bad-2023\ntitle: \xed\xa0\x80\n", 20),
    ("truncated sequence at the end", b"id: bad-2023\ntitle: ok\n#\xe2\x82", 24),
]
# Entries of papers/ that are no paper file: each is reported by name.
OTHER_NAME_CASES = ["Paper-2023.YAML", "paper-2023.yml", "paper-2023.yml.txt", "paper-2023.yaml~", "#paper-2023.yaml#",
                    "paper-2023.yaml.orig", "notes.txt", "README.md"]
# Hidden entries (editor swap files, the writers' own temporary files, OS metadata): ignored, documented.
IGNORED_NAME_CASES = [".paper-2023.yaml.swp", ".DS_Store", ".hidden-2023.yaml", ".gitkeep", ".paper-2023.yaml.1a2b3c.tmp"]
# Non-regular entries named *.yaml: reported, never opened.
NON_REGULAR_CASES = ["directory", "dangling symlink", "fifo", "symlink to a file outside the catalog"]
OVERSIZE_BYTES = yamlio.MAX_FILE_BYTES + 1

# (case, first paper's extra fields, second paper's extra fields, field named on the second)
DUPLICATE_PAIR_CASES = [
    ("arXiv id vs abs/...v2 link", {"arxiv": "2206.00927"}, {"url": "https://arxiv.org/abs/2206.00927v2"}, "url"),
    ("arXiv id vs pdf/...v3.pdf link", {"arxiv": "2206.00927"}, {"url": "https://arxiv.org/pdf/2206.00927v3.pdf"}, "url"),
    ("abs link vs html link", {"url": "https://arxiv.org/abs/2206.00927"}, {"url": "http://arxiv.org/html/2206.00927v1"}, "url"),
    ("same link, scheme/www/slash/tracking differ", {"url": "https://example.org/paper/"},
     {"url": "http://www.example.org/paper?utm_source=x&ref=feed#top"}, "url"),
    ("openreview forum vs pdf", {"url": "https://openreview.net/forum?id=AbC123"},
     {"url": "https://openreview.net/pdf?id=AbC123"}, "url"),
    ("DOI case", {"doi": "10.1000/ABC.def"}, {"doi": "10.1000/abc.DEF"}, "doi"),
    ("DOI vs doi.org link", {"doi": "10.1000/ABC.def"}, {"url": "https://doi.org/10.1000/abc.def"}, "url"),
    ("Cyrillic look-alike letters in the title", {"title": "Denoising Diffusion Implicit Models"},
     {"title": "D\u0435n\u043eising Diffusi\u043en Implicit M\u043edels"}, "title"),
    ("Greek look-alike capitals in the title", {"title": "Elucidating The Design Space"},
     {"title": "\u0395lucidating \u03a4he Design Space"}, "title"),
    ("full-width letters in the title (NFKC)", {"title": "Denoising Diffusion Implicit Models"},
     {"title": "\uff24\uff45\uff4e\uff4f\uff49\uff53\uff49\uff4e\uff47 Diffusion Implicit Models"}, "title"),
]
# Pairs that must stay two papers.
DISTINCT_PAIR_CASES = [
    ("different arXiv ids", {"arxiv": "2206.00927"}, {"arxiv": "2206.00928"}),
    ("same site, different page", {"url": "https://example.org/a"}, {"url": "https://example.org/b"}),
    ("different openreview ids", {"url": "https://openreview.net/forum?id=A1"}, {"url": "https://openreview.net/forum?id=A2"}),
    ("meaningful query kept", {"url": "https://example.org/view?paper=1"}, {"url": "https://example.org/view?paper=2"}),
]


# -- helpers ------------------------------------------------------------------------------------
def load(root):
    return load_catalog(root, TAXONOMY)


def problems_for(catalog, name):
    return [p for p in catalog.problems if Path(p.file).name == name]


def good_catalog(tmp_path):
    return make_catalog(tmp_path, [paper("good-2022", "A Perfectly Good Sampler Paper")])


# -- (2) aliases, (10) duplicate keys, invalid UTF-8, other names, size ---------------------------
@pytest.mark.parametrize("case,text", ALIAS_CASES, ids=[c[0] for c in ALIAS_CASES])
def test_yaml_aliases_are_refused_before_expansion(tmp_path, case, text):
    root = good_catalog(tmp_path)
    (root / "papers" / "alias-2023.yaml").write_text(text, encoding="utf-8")
    catalog = load(root)
    found = problems_for(catalog, "alias-2023.yaml")
    assert len(found) == 1, [str(p) for p in catalog.problems]
    assert any(word in found[0].message for word in ("alias", "merge key", "recursive")), str(found[0])
    assert found[0].hint and found[0].line
    assert "good-2022" in catalog.papers


def test_match_index_reads_no_file(tmp_path, monkeypatch):
    """Duplicate matching uses only what the loader parsed; it never re-reads a refused file."""
    root = good_catalog(tmp_path)
    (root / "papers" / "bomb-2023.yaml").write_text(_bomb(6), encoding="utf-8")
    write_paper(root / "papers", {"id": "stub-2023", "title": "A Stub Without Summary Yet", "year": 2023,
                                  "url": "https://example.org/stub"})
    catalog = load(root)

    def no_open(*args, **kwargs):
        raise AssertionError("MatchIndex opened a file")

    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(Path, "read_text", no_open)
    monkeypatch.setattr(Path, "read_bytes", no_open)
    index = MatchIndex(catalog, root / "papers")
    monkeypatch.undo()
    assert index.find("A Stub Without Summary Yet", None, None) == "stub-2023"  # stubs still count as present
    assert index.find("lol", None, None) is None


def test_alias_bomb_does_not_take_down_add_imports_or_the_contribute_check(tmp_path):
    root = good_catalog(tmp_path)
    (root / "papers" / "bomb-2023.yaml").write_text(_bomb(6), encoding="utf-8")
    args = ["--catalog", str(root), "--taxonomy", str(TAXONOMY)]
    runner = CliRunner()
    result = runner.invoke(main, ["validate", *args])
    assert result.exit_code == 1 and "bomb-2023.yaml" in result.output and "alias" in result.output
    result = runner.invoke(main, ["add", *args, "--no-interactive", "--title", "A Brand New Sampler Paper", "--year", "2024",
                                  "--url", "https://example.org/new", "--summary", "A made-up sampler to test duplicates.",
                                  "--tag", "ulhaq2022:eps.scheduling", "--tag", "shen2025:algorithm.sampling.solver"])
    assert result.exit_code == 0, result.output
    assert "1 catalog file(s) could not be read" in result.output and "bomb-2023.yaml" in result.output
    bib = tmp_path / "one.bib"
    bib.write_text("@misc{other2024, title={Another Made-Up Sampler Paper}, year={2024}, url={https://example.org/o}}\n")
    result = runner.invoke(main, ["bib", "import", str(bib), *args])
    assert result.exit_code == 0, result.output
    listing = REPO / "tests" / "fixtures" / "lists" / "shen_snippet.md"
    result = runner.invoke(main, ["sources", "import", str(listing), "--format", "shen", "--survey", "shen2025", *args])
    assert result.exit_code == 0, result.output
    draft = prepare({"title": "Yet Another Sampler Paper", "year": 2024, "url": "https://example.org/y",
                     "summary": "A made-up sampler used to test the check."}, TAGS, load(root), root / "papers")
    assert draft.ok, draft.errors


@pytest.mark.parametrize("case,text,field,line", DUPLICATE_KEY_CASES, ids=[c[0] for c in DUPLICATE_KEY_CASES])
def test_duplicate_yaml_keys_are_refused(tmp_path, case, text, field, line):
    root = good_catalog(tmp_path)
    (root / "papers" / "dup-2023.yaml").write_text(text, encoding="utf-8")
    found = problems_for(load(root), "dup-2023.yaml")
    assert len(found) == 1, [str(p) for p in found]
    assert "duplicate key" in found[0].message and found[0].field == field and found[0].line == line, str(found[0])
    assert "keep one" in found[0].hint


def test_duplicate_keys_are_refused_by_the_loader_itself():
    with pytest.raises(yamlio.YamlError, match="duplicate key 'a'"):
        yamlio.load_yaml_text("a: 1\nb: 2\na: 3\n")
    assert yamlio.load_yaml_text("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}  # same key, other mapping


@pytest.mark.parametrize("case,data,offset", BAD_UTF8_CASES, ids=[c[0] for c in BAD_UTF8_CASES])
def test_invalid_utf8_is_refused_with_its_byte_offset(tmp_path, case, data, offset):
    root = good_catalog(tmp_path)
    (root / "papers" / "bad-2023.yaml").write_bytes(data)
    found = problems_for(load(root), "bad-2023.yaml")
    assert len(found) == 1 and "not valid UTF-8" in found[0].message, [str(p) for p in found]
    assert f"byte offset {offset}" in found[0].message and "UTF-8" in found[0].hint


@pytest.mark.parametrize("name", OTHER_NAME_CASES)
def test_other_names_in_papers_are_reported(tmp_path, name):
    root = good_catalog(tmp_path)
    (root / "papers" / name).write_text("id: paper-2023\n")
    catalog = load(root)
    found = problems_for(catalog, name)
    assert len(found) == 1 and "not a paper file" in found[0].message, [str(p) for p in catalog.problems]
    assert ".yaml" in found[0].hint


@pytest.mark.parametrize("name", IGNORED_NAME_CASES)
def test_hidden_files_are_ignored(tmp_path, name):
    root = good_catalog(tmp_path)
    (root / "papers" / name).write_text("id: paper-2023\ntitle: [unclosed\n")
    catalog = load(root)
    assert catalog.problems == [] and list(catalog.papers) == ["good-2022"]


def _make_non_regular(folder: Path, case: str, outside: Path) -> Path:
    path = folder / "odd-2023.yaml"
    if case == "directory":
        path.mkdir()
    elif case == "dangling symlink":
        path.symlink_to(folder / "nowhere.yaml")
    elif case == "fifo":
        os.mkfifo(path)
    else:
        outside.write_text("id: odd-2023\ntitle: Outside File\n")
        path.symlink_to(outside)
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs and symlinks")
@pytest.mark.parametrize("case", NON_REGULAR_CASES)
def test_non_regular_files_are_reported_not_opened(tmp_path, case):
    root = good_catalog(tmp_path)
    path = _make_non_regular(root / "papers", case, tmp_path / "outside.yaml")
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(catalog=load(root)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # a reader blocked on the FIFO: open its other end so the thread can end
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=5)
        pytest.fail("the loader opened the FIFO and hung")
    catalog = out["catalog"]
    found = problems_for(catalog, "odd-2023.yaml")
    assert len(found) == 1, [str(p) for p in catalog.problems]
    assert "not a regular file" in found[0].message and found[0].hint
    assert list(catalog.papers) == ["good-2022"]


def test_oversized_file_is_refused_unread(tmp_path):
    root = good_catalog(tmp_path)
    (root / "papers" / "big-2023.yaml").write_text("id: big-2023\nsummary: " + "x" * OVERSIZE_BYTES + "\n")
    found = problems_for(load(root), "big-2023.yaml")
    assert len(found) == 1 and "limit" in found[0].message and "1 MB" in found[0].message, [str(p) for p in found]


# -- (6) interrupted writes -------------------------------------------------------------------------
def _crash_half_way(fd, data):
    """Stands in for yamlio._write_bytes: writes half the bytes, then the process 'dies'."""
    os.write(fd, data[: len(data) // 2])
    raise KeyboardInterrupt("simulated crash half-way through the write")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_new_file_crash_leaves_nothing_and_retry_works(tmp_path, monkeypatch):
    target = tmp_path / "new-2024.yaml"
    monkeypatch.setattr(yamlio, "_write_bytes", _crash_half_way, raising=False)
    with pytest.raises(KeyboardInterrupt):
        yamlio.write_new_file(target, "id: new-2024\n" * 100)
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    yamlio.write_new_file(target, "id: new-2024\n")
    assert target.read_text() == "id: new-2024\n"
    with pytest.raises(FileExistsError):
        yamlio.write_new_file(target, "replaced\n")
    assert target.read_text() == "id: new-2024\n"


def test_atomic_write_crash_keeps_the_old_text(tmp_path, monkeypatch):
    target = tmp_path / "page.md"
    target.write_text("the good page\n")
    monkeypatch.setattr(yamlio, "_write_bytes", _crash_half_way, raising=False)
    with pytest.raises(KeyboardInterrupt):
        yamlio.atomic_write(target, "new text\n" * 100)
    assert _leftovers(tmp_path) == ["page.md"] and target.read_text() == "the good page\n"
    monkeypatch.undo()
    yamlio.atomic_write(target, "new text\n")
    assert target.read_text() == "new text\n"


_KILL_SCRIPT = """
import os, signal, sys
from pathlib import Path
from diffatlas import yamlio

def die_half_way(fd, data):
    os.write(fd, data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)

yamlio._write_bytes = die_half_way
getattr(yamlio, sys.argv[1])(Path(sys.argv[2]), "id: killed-2024\\n" + "summary: x\\n" * 2000)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("writer", ["write_new_file", "atomic_write"])
def test_kill_9_mid_write_leaves_no_partial_target(tmp_path, writer):
    root = good_catalog(tmp_path)
    target = root / "papers" / ("killed-2024.yaml" if writer == "write_new_file" else "good-2022.yaml")
    before = target.read_text() if target.exists() else None
    run = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, writer, str(target)], cwd=REPO, capture_output=True, timeout=60)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    assert (target.read_text() if target.exists() else None) == before  # absent, or the old text whole
    catalog = load(root)  # the hidden temporary file a kill leaves behind is ignored
    assert catalog.problems == [], [str(p) for p in catalog.problems]
    if writer == "write_new_file":
        yamlio.write_new_file(target, "id: killed-2024\n")  # a retry is not blocked
        assert target.read_text() == "id: killed-2024\n"


def _add(root, *extra):
    return CliRunner().invoke(main, [
        "add", "--catalog", str(root), "--taxonomy", str(TAXONOMY), "--no-interactive", "--title", "A Brand New Sampler Paper",
        "--year", "2024", "--url", "https://example.org/new", "--summary", "A made-up sampler used to test crashes.",
        "--tag", "ulhaq2022:eps.scheduling", "--tag", "shen2025:algorithm.sampling.solver", *extra])


def test_add_crash_leaves_no_file_and_a_retry_works(tmp_path, monkeypatch):
    root = good_catalog(tmp_path)
    monkeypatch.setattr(yamlio, "_write_bytes", _crash_half_way, raising=False)
    result = _add(root)
    assert result.exit_code != 0
    assert _leftovers(root / "papers") == ["good-2022.yaml"]
    monkeypatch.undo()
    result = _add(root)
    assert result.exit_code == 0, result.output
    assert load(root).problems == []


def test_render_and_export_crash_keep_the_old_files(tmp_path, monkeypatch):
    root = good_catalog(tmp_path)
    out, bib = tmp_path / "docs", tmp_path / "catalog.bib"
    args = ["--catalog", str(root), "--taxonomy", str(TAXONOMY)]
    runner = CliRunner()
    assert runner.invoke(main, ["render", *args, "--out", str(out)]).exit_code == 0
    assert runner.invoke(main, ["bib", "export", *args, "-o", str(bib)]).exit_code == 0
    before = {p.name: p.read_text() for p in [*out.iterdir(), bib]}
    write_paper(root / "papers", paper("second-2023", "A Second Sampler Paper For Render", year=2023))
    monkeypatch.setattr(yamlio, "_write_bytes", _crash_half_way, raising=False)
    assert runner.invoke(main, ["render", *args, "--out", str(out)]).exit_code != 0
    assert runner.invoke(main, ["bib", "export", *args, "-o", str(bib)]).exit_code != 0
    assert {p.name: p.read_text() for p in [*out.iterdir(), bib]} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog", "catalog.bib", "docs"]


def test_export_to_an_unwritable_place_is_one_error_line(tmp_path):
    root = good_catalog(tmp_path)
    result = CliRunner().invoke(main, ["bib", "export", "--catalog", str(root), "--taxonomy", str(TAXONOMY),
                                       "-o", str(tmp_path / "no" / "such" / "folder" / "out.bib")])
    assert result.exit_code != 0 and result.output.startswith("error: ") and "Traceback" not in result.output


# -- (7) render writes beside the chosen catalog, never through a symlink --------------------------
def test_render_writes_beside_the_chosen_catalog(tmp_path, monkeypatch):
    import diffatlas.paths

    installed = tmp_path / "installed"
    (installed / "docs").mkdir(parents=True)
    monkeypatch.setattr(diffatlas.paths, "REPO_ROOT", installed)
    root = good_catalog(tmp_path / "other")
    result = CliRunner().invoke(main, ["render", "--catalog", str(root), "--taxonomy", str(TAXONOMY)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "other" / "docs").iterdir()) == ["README.md", "ma2024.md", "shen2025.md", "ulhaq2022.md"]
    assert list((installed / "docs").iterdir()) == []


@pytest.mark.parametrize("where", ["a page", "the folder"])
def test_render_refuses_to_write_through_a_symlink(tmp_path, where):
    root = good_catalog(tmp_path)
    victim = tmp_path / "elsewhere" / "shen2025.md"
    victim.parent.mkdir()
    victim.write_text("not yours\n")
    out = tmp_path / "docs"
    if where == "a page":
        out.mkdir()
        (out / "shen2025.md").symlink_to(victim)
    else:
        out.symlink_to(victim.parent)
    result = CliRunner().invoke(main, ["render", "--catalog", str(root), "--taxonomy", str(TAXONOMY), "--out", str(out)])
    assert result.exit_code != 0 and "symbolic link" in result.output, result.output
    assert victim.read_text() == "not yours\n" and sorted(p.name for p in victim.parent.iterdir()) == ["shen2025.md"]


# -- (11) one duplicate rule -------------------------------------------------------------------------
def _pair(case_a: dict, case_b: dict):
    a = {**paper("first-2022", "A First Paper About Sampling", url="https://example.org/first"), **case_a}
    b = {**paper("second-2022", "A Second Paper About Caching", url="https://example.org/second"), **case_b}
    return a, b


@pytest.mark.parametrize("case,extra_a,extra_b,field", DUPLICATE_PAIR_CASES, ids=[c[0] for c in DUPLICATE_PAIR_CASES])
def test_one_duplicate_rule_on_every_path(tmp_path, case, extra_a, extra_b, field):
    a, b = _pair(extra_a, extra_b)
    # validate
    root = make_catalog(tmp_path / "both", [a, b])
    found = [p for p in load(root).problems if "duplicate paper" in p.message]
    assert len(found) == 1 and found[0].field == field, [str(p) for p in load(root).problems]
    assert {Path(found[0].file).name, found[0].message.rsplit("/", 1)[-1]} == {"first-2022.yaml", "second-2022.yaml"}
    # add and the app's Contribute check
    root = make_catalog(tmp_path / "one", [a])
    catalog = load(root)
    fields = {k: v for k, v in b.items() if k not in ("id", "tags")}
    draft = prepare(fields, TAGS, catalog, root / "papers")
    assert any("duplicate" in e and "first-2022" in e for e in draft.errors), draft.errors
    # bib import
    record = {"bibkey": "second", **{k: v for k, v in fields.items() if k in ("title", "year", "url", "doi", "arxiv")}}
    result = import_records(catalog, root / "papers", [record], dry_run=True)
    assert result.duplicates == [("second", "first-2022")] and result.created == []
    # sources import (a survey's list gives a title and a link, never a DOI field)
    if "doi" in extra_b:
        return
    entry = SourceEntry(title=fields["title"], section="Solver", line=1, year=2022, url=fields.get("url"))
    report = merge_entries(catalog, [entry], "shen2025", root / "papers", dry_run=True)
    assert [pid for _, pid in report.matched] == ["first-2022"] and report.created == []


@pytest.mark.parametrize("case,extra_a,extra_b", DISTINCT_PAIR_CASES, ids=[c[0] for c in DISTINCT_PAIR_CASES])
def test_distinct_papers_stay_distinct(tmp_path, case, extra_a, extra_b):
    root = make_catalog(tmp_path, list(_pair(extra_a, extra_b)))
    assert load(root).problems == []
