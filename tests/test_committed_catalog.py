"""The catalog as committed: valid, complete enough, and its generated BibTeX in sync."""

from __future__ import annotations

import bibtexparser
import pytest

from diffatlas.bibtex import export_bibtex
from diffatlas.catalog import load_catalog
from diffatlas.paths import REPO_ROOT

from .helpers import TAXONOMY


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(REPO_ROOT / "catalog", TAXONOMY)


def test_committed_catalog_is_valid(catalog):
    assert [str(p) for p in catalog.problems] == []


def test_catalog_covers_the_surveys(catalog):
    assert len(catalog) >= 350
    for survey in ("ulhaq2022", "shen2025", "ma2024"):
        assert len(catalog.by_survey(survey)) > 40, survey
    for survey_id in ("ulhaq2022survey", "shen2025survey", "ma2024survey"):
        assert catalog.get(survey_id).kind == "survey"
    for tax in catalog.taxonomies.values():
        assert catalog.get(tax.survey) is not None, tax.survey


def test_every_diffusion_paper_is_placed_or_outside_with_a_reason_in_both_main_trees(catalog):
    missing = [(p.id, tid) for p in catalog.papers.values() if p.kind in ("paper", "framework")
               for tid in ("ulhaq2022", "shen2025") if not p.tags.get(tid) and tid not in p.outside]
    assert missing == []


def test_the_catalog_meets_issue_11_depth_targets(catalog):
    research = [p for p in catalog.papers.values() if p.kind == "paper"]
    assert sum(bool(p.authors) for p in research) >= 0.9 * len(research)
    assert sum(bool(p.reported) for p in research) >= 80
    assert len(catalog.keywords) >= 40 and all(k in catalog.keywords for p in research for k in p.keywords)


def test_curated_placements_of_outside_papers_say_why(catalog):
    """Every 'outside' reason is a sentence, and no survey's own placement was replaced by one."""
    from diffatlas.placement import survey_nodes

    for paper in catalog.papers.values():
        for tid, reason in paper.outside.items():
            assert len(reason.split()) >= 4, (paper.id, reason)
            assert not survey_nodes(paper, tid), f"{paper.id}: {tid} files it, yet it is marked outside {tid}"


def test_catalog_bib_is_up_to_date(catalog):
    committed = (REPO_ROOT / "bib" / "catalog.bib").read_text(encoding="utf-8")
    assert committed == export_bibtex(catalog.papers.values()), (
        "bib/catalog.bib is out of date: run 'diffatlas bib export -o bib/catalog.bib'"
    )


@pytest.mark.parametrize("name", ["catalog.bib", "surveys.bib"])
def test_bib_files_parse(name):
    library = bibtexparser.parse_string((REPO_ROOT / "bib" / name).read_text(encoding="utf-8"))
    assert not library.failed_blocks
    assert len(library.entries) >= 3


def test_generated_docs_are_up_to_date(catalog):
    from diffatlas.render import render_all

    for name, text in render_all(catalog).items():
        path = REPO_ROOT / "docs" / name
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"docs/{name} is out of date: run 'diffatlas render' and commit the result"
        )
