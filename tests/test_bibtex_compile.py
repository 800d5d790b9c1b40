"""The exported catalog passes a real `bibtex` run (issue 11 item 5).

The whole committed catalog is exported (not the committed bib/catalog.bib, which the
lead regenerates: test_committed_catalog checks the two agree), cited with \\nocite{*}
under \\bibstyle{plain}, and run through Debian's bibtex. Any error fails, and any
warning fails except the ones a catalog entry may rightly cause:

- "empty author in KEY": plain.bst requires author for most types, but the catalog
  records authors only when they are known for sure (catalog/README.md); validate
  warns about such entries, and the app marks them.
- "to sort, need author ... or key in KEY": plain.bst's consequence of the same gap.

Every other "empty FIELD in KEY" (title, journal, booktitle, school, institution,
year) means the export chose an entry type whose required field it cannot fill, and
fails. Skipped when bibtex is not installed, unless DIFFATLAS_REQUIRE_BIBTEX=1 (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from diffatlas.bibtex import export_bibtex
from diffatlas.catalog import load_catalog
from diffatlas.paths import REPO_ROOT

from .helpers import TAXONOMY

TOLERATED = [
    re.compile(r"^empty author in (\S+)$"),
    re.compile(r"^to sort, need author(, editor,)?( or| organization, or)? key in (\S+)$"),
]

AUX = "\\relax\n\\citation{*}\n\\bibstyle{plain}\n\\bibdata{catalog}\n"


def _bibtex() -> str:
    path = shutil.which("bibtex")
    if path is None:
        if os.environ.get("DIFFATLAS_REQUIRE_BIBTEX") == "1":
            pytest.fail("bibtex is required here (DIFFATLAS_REQUIRE_BIBTEX=1) but not installed: "
                        "apt-get install texlive-binaries texlive-base")
        pytest.skip("bibtex not installed (Debian: texlive-binaries texlive-base)")
    return path


def run_bibtex(bib_text: str, folder) -> tuple[int, list[str], str]:
    """bibtex over one .bib in `folder`: (exit status, warning lines, the whole log)."""
    (folder / "catalog.bib").write_text(bib_text, encoding="utf-8")
    (folder / "main.aux").write_text(AUX, encoding="utf-8")
    done = subprocess.run([_bibtex(), "main"], cwd=folder, capture_output=True, text=True, timeout=120)
    log = (folder / "main.blg").read_text(encoding="utf-8", errors="replace") if (folder / "main.blg").exists() else ""
    warnings = [line.removeprefix("Warning--").strip() for line in log.splitlines() if line.startswith("Warning--")]
    return done.returncode, warnings, done.stdout + log


def problems(status: int, warnings: list[str], log: str) -> list[str]:
    """Errors and the warnings that are not a tolerated missing author."""
    out = [w for w in warnings if not any(p.match(w) for p in TOLERATED)]
    if status >= 2 or re.search(r"error message|---line \d+ of file", log):
        out.append("bibtex reported errors:\n" + log)
    return out


@pytest.fixture(scope="module")
def catalog_bib():
    return export_bibtex(load_catalog(REPO_ROOT / "catalog", TAXONOMY).papers.values())


def test_export_is_ascii_with_month_macros(catalog_bib):
    """LaTeX without inputenc aborts on raw Unicode; a braced {feb} prints 'feb' instead of the month."""
    bad = sorted({ch for ch in catalog_bib if not ch.isascii()})
    assert bad == [], f"raw non-ASCII characters in the export: {bad}"
    assert re.findall(r"month = \{\w+\}", catalog_bib) == []


def test_catalog_passes_bibtex(catalog_bib, tmp_path):
    status, warnings, log = run_bibtex(catalog_bib, tmp_path)
    assert problems(status, warnings, log) == []
    assert (tmp_path / "main.bbl").read_text(encoding="utf-8").count("\\bibitem") == len(re.findall(r"^@", catalog_bib, re.M))


def test_the_checker_sees_real_errors(tmp_path):
    """A broken file and a missing journal fail; a missing author is tolerated."""
    status, warnings, log = run_bibtex("@article{broken, title = {x}, year = {2020}, journal = {J}\n@misc{ok, title={y}}\n", tmp_path)
    assert problems(status, warnings, log)
    status, warnings, log = run_bibtex("@article{nojournal, title = {x}, year = {2020}, author = {A. B}}\n", tmp_path)
    assert problems(status, warnings, log) == ["empty journal in nojournal"]
    status, warnings, log = run_bibtex("@inproceedings{noauthor, title = {x}, year = {2020}, booktitle = {ICLR}}\n", tmp_path)
    assert warnings and problems(status, warnings, log) == []
