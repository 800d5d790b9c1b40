"""docs/*.md as a CommonMark renderer and a browser see them: hostile catalog text stays text,
link targets are percent-encoded http(s) only, and no script runs (issue 13). Also what the pages
show about placements (issue 11): origin marks, a legend, per-node counts, papers outside a tree.

The hostile pages are made from Paper objects built without validation (model_construct), so the
renderer's own escaping is tested, not the validator in front of it.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from diffatlas.catalog import Catalog, load_catalog
from diffatlas.models import Paper, RunsHere
from diffatlas.render import md_url, paper_line, render_all, render_taxonomy

from .conftest import FIXTURE_CATALOG, FIXTURE_TAXONOMY

FLAG = "window.__pwned=1"
# Text that a Markdown page must show as text (title, venue, names, reasons, runs_here fields, node names).
HOSTILE_TEXT = [
    f"<script>{FLAG}</script>",
    f'<img src=x onerror="{FLAG}">',
    f"<svg onload={FLAG}>",
    f"x\n\n<script>{FLAG}</script>",
    f"x\r\n<img src=x onerror={FLAG}>",
    f"x\u2028<img src=x onerror={FLAG}>",
    f"[click](javascript:{FLAG})",
    f"![x](javascript:{FLAG})",
    f"<javascript:{FLAG}>",
    f'<a href="javascript:{FLAG}">a</a>',
    f"&lt;img src=x onerror={FLAG}&gt;",
    f"`code` ``<img src=x onerror={FLAG}>``",
    f"<!-- --><img src=x onerror={FLAG}>",
    f"<details open ontoggle={FLAG}>",
    f"*a* _b_ # c | d \\ [e]: javascript:{FLAG}",
]
# Links: each must come out percent-encoded, or not as a link at all.
HOSTILE_URLS = [
    f"https://example.org/x\n<img src=x onerror={FLAG}>",
    f"https://example.org/x\n\n<script>{FLAG}</script>",
    f"javascript:{FLAG}",
    f"JaVaScRiPt:{FLAG}",
    f"data:text/html,<script>{FLAG}</script>",
    f'https://example.org/"><img src=x onerror={FLAG}>',
    f"https://example.org/x) <img src=x onerror={FLAG}> (",
    f"https://example.org/x 'title' <img src=x onerror={FLAG}>",
    f"https://example.org/<script>{FLAG}</script>",
    f"https://example.org/x\\) <img src=x onerror={FLAG}>",
    f"https://example.org/x\u2028<img src=x onerror={FLAG}>",
]
# (link as given, the link target written into the page; None: no link)
URL_CASES = [
    ("https://example.org/a", "https://example.org/a"),
    ("https://example.org/a(b)c", "https://example.org/a%28b%29c"),
    # what validation refuses (whitespace, controls, <>"') gets no link at all, as in the app
    ("https://example.org/a(b)c d", None),
    ("https://example.org/x\n<img>", None),
    ("https://example.org/?q=a&b=<c>#f", None),
    ("https://example.org/caf\u00e9", "https://example.org/caf%C3%A9"),
    ("https://example.org/%41", "https://example.org/%41"),
    ("javascript:alert(1)", None),
    ("ftp://example.org/x", None),
    ("//example.org/x", None),
]
ALLOWED_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "li", "a", "strong", "em", "code", "br"}
TAGS = {"ulhaq2022": ["eps.scheduling"], "shen2025": ["algorithm.sampling.solver"], "ma2024": ["part5"]}


def hostile_catalog() -> Catalog:
    base = load_catalog(FIXTURE_CATALOG, FIXTURE_TAXONOMY)
    taxonomies = {tid: tax.model_copy(deep=True) for tid, tax in base.taxonomies.items()}
    node = taxonomies["shen2025"].nodes[0]
    node.name, node.description = HOSTILE_TEXT[0], HOSTILE_TEXT[1]
    papers = {}
    for i, text in enumerate(HOSTILE_TEXT):
        papers[f"text-{i}"] = Paper.model_construct(
            id=f"text-{i}", title=text, venue=text, year=2023, url="https://example.org/p", code=None, tags=TAGS,
            runs_here=RunsHere.model_construct(checked=dt.date(2025, 1, 1), machine=text, status="runs", tried=text,
                                               outcome=text, instead=f"x`<img src=x onerror={FLAG}>`", reason=text))
        papers[f"outside-{i}"] = Paper.model_construct(
            id=f"outside-{i}", title="Outside", year=2023, url="https://example.org/o", tags={"ulhaq2022": ["eps.training"]},
            outside={"shen2025": text})
    for i, url in enumerate(HOSTILE_URLS):
        papers[f"url-{i}"] = Paper.model_construct(id=f"url-{i}", title=f"Url {i}", year=2023, url=url, code=url, tags=TAGS)
    return Catalog(papers, taxonomies)


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def html_pages() -> dict[str, str]:
    markdown = MarkdownIt("commonmark")  # raw HTML on, as many Markdown renderers have it
    return {name: markdown.render(text) for name, text in render_all(hostile_catalog()).items()}


# -- without a browser -------------------------------------------------------------------------------
@pytest.mark.parametrize("url,expected", URL_CASES)
def test_md_url_percent_encodes_or_refuses(url, expected):
    assert md_url(url) == expected


def test_hostile_catalog_text_becomes_no_html_element():
    for name, html in html_pages().items():
        parser = _Elements()
        parser.feed(html)
        for tag, attrs in parser.found:
            assert tag in ALLOWED_TAGS, f"{name}: <{tag} {attrs}>"
            assert not any(key.startswith("on") for key in attrs), f"{name}: <{tag} {attrs}>"
            href = attrs.get("href", "https://")
            assert re.match(r"^(https?://|#|[a-z0-9]+\.md$)", href), f"{name}: href {href!r}"
            assert not re.search(r"[\s<>\"'()\\]", href), f"{name}: href {href!r}"


# -- in a browser ------------------------------------------------------------------------------------
@pytest.mark.browser
def test_no_script_runs_when_the_docs_are_opened(browser, tmp_path):
    context = browser.new_context(java_script_enabled=True)
    tab = context.new_page()
    events: list[str] = []
    tab.on("dialog", lambda dialog: (events.append(f"dialog {dialog.message}"), dialog.dismiss()))
    tab.on("pageerror", lambda exc: events.append(f"error {exc}"))
    for name, html in html_pages().items():
        path = tmp_path / f"{name}.html"
        path.write_text(f"<!doctype html><meta charset=utf-8><body>{html}</body>", encoding="utf-8")
        tab.goto(path.as_uri(), wait_until="load")
        assert tab.evaluate("() => window.__pwned") is None, name
        assert tab.locator("script, img, svg, iframe, details, a[href^='javascript:' i]").count() == 0, name
    assert events == []
    context.close()


# -- what the pages show about placements (issue 11) -----------------------------------------------------
def _line_under(page: str, heading: str, paper_title: str) -> str:
    section = page.split(heading + "\n", 1)[1].split("\n#", 1)[0]
    return next(line for line in section.splitlines() if paper_title in line)


def test_lines_mark_placements_the_survey_did_not_make(fixture_catalog):
    ulhaq = render_taxonomy(fixture_catalog, "ulhaq2022")
    ma = render_taxonomy(fixture_catalog, "ma2024")
    ddim = "Denoising Diffusion Implicit Models."
    assert _line_under(ulhaq, "### Scheduling", ddim).endswith("ermongroup/ddim)")  # filed there by Ulhaq & Akhtar
    assert _line_under(ulhaq, "#### SDE", ddim).endswith(r" \*")  # placed by diffatlas
    assert _line_under(ma, "### ODE solvers", ddim).endswith(" °")  # Ma et al. file it one level up
    for page in (ulhaq, ma):
        legend = next(line for line in page.splitlines() if line.startswith("Marks:"))
        assert "°" in legend and r"\*" in legend and "survey" in legend


def test_each_node_counts_survey_and_diffatlas_placements(fixture_catalog):
    ulhaq = render_taxonomy(fixture_catalog, "ulhaq2022")
    section = ulhaq.split("### Scheduling\n", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    marked = sum(line.endswith((r" \*",)) for line in lines)
    assert f"{len(lines) - marked} listed by the survey, {marked} added by diffatlas." in section


def test_papers_outside_a_tree_are_listed_with_their_reason(tmp_path):
    shutil.copytree(FIXTURE_CATALOG, tmp_path / "catalog")
    reason = "A text-to-3D pipeline: no Shen et al. node covers 3D generation."
    extra = (tmp_path / "catalog" / "papers" / "outside-2024.yaml")
    extra.write_text("id: outside-2024\ntitle: An Outside Paper For Three Dimensions\nyear: 2024\nurl: https://example.org/3d\n"
                     "summary: A made-up paper that fits no node of the Shen et al. tree.\n"
                     f"tags:\n  ulhaq2022: [eps.training]\noutside:\n  shen2025: '{reason}'\n", encoding="utf-8")
    catalog = load_catalog(tmp_path / "catalog", FIXTURE_TAXONOMY)
    assert catalog.problems == [], [str(p) for p in catalog.problems]
    shen = render_taxonomy(catalog, "shen2025")
    tail = shen.split("\n## Outside this taxonomy\n", 1)[1]
    assert "An Outside Paper For Three Dimensions." in tail and reason in tail
    assert "(#outside-this-taxonomy)" in shen.split("\n## Contents\n", 1)[1]
    assert "Outside" not in render_taxonomy(catalog, "ulhaq2022").split("\n## Contents\n", 1)[1].split("\n## ")[0]
    assert paper_line(catalog.get("ddim-2021")).startswith("- **[ICLR 2021]** Denoising Diffusion Implicit Models.")
