"""The catalog as Markdown lists, one page per taxonomy, in the surveys' own list style.

So the repository reads well on GitHub without the app: venue, year, title,
paper and code links, grouped by taxonomy node. Each line marks a placement the
survey did not make itself (placement.ORIGIN_MARKS), each node counts its papers
by origin, and papers marked outside a tree are listed at the end of its page.

Catalog text is data, never markup: every string goes through `md_text` (or
`md_code`), every link target through `md_url`, so a page stays inert under any
CommonMark renderer, including ones that pass raw HTML through.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from .catalog import Catalog
from .models import RUNS_HERE_WORDS, Paper
from .placement import ORIGIN_MARKS, ORIGIN_WORDS, tag_origin
from .textnorm import is_safe_url

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~]|&(?=#?[A-Za-z0-9]+;))")  # '&' only where it would start an entity
_LINE_BREAKS = re.compile(r"\s+")  # newlines (\r, \n, U+2028/9 ...) would end the line or the paragraph
# Characters kept as they are in a link target: RFC 3986's unreserved and reserved ones, and '%' of an
# existing escape. Everything else (space, newline, <, >, quotes, parentheses, backslash, non-ASCII) is encoded.
_URL_SAFE = "/:?#[]@!$&*+,;=%~-._"
OUTSIDE_HEADING = "Outside this taxonomy"


def md_text(text: str) -> str:
    """Plain text on one Markdown line: whitespace runs folded to a space, Markdown and HTML syntax escaped."""
    return _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", text).strip())


def md_code(text: str) -> str:
    """Text as an inline code span (never HTML inside one); the fence is longer than any backtick run."""
    text = _LINE_BREAKS.sub(" ", text).strip()
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_url(url: str) -> str | None:
    """A link target for `[text](target)`: http(s) only (else None: no link), percent-encoded."""
    if not is_safe_url(url.strip()) or not url.strip().lower().startswith(("http://", "https://")):
        return None
    return quote(url.strip(), safe=_URL_SAFE)


def _link(label: str, url: str | None) -> str:
    target = md_url(url) if url else None
    return f" [[{label}]]({target})" if target else ""


def paper_line(paper: Paper, mark: str = "") -> str:
    """'- **[Venue Year]** Title. [[Paper]](url) [[Code]](url)', then the origin mark of this placement."""
    year = paper.year or "n.d."
    badge = f"**[{md_text(paper.venue)} {year}]**" if paper.venue else f"**[{year}]**"
    line = f"- {badge} {md_text(paper.title)}." + _link("Paper", paper.url) + _link("Code", paper.code)
    if paper.unresolved:
        line += " *(unresolved: named by the survey, not identified)*"
    return line + (f" {md_text(mark)}" if mark else "")


def runs_here_lines(paper: Paper) -> list[str]:
    """Sub-items under a framework's line: what was tried here, what happened, what is measured instead."""
    check = paper.runs_here
    if check is None:
        return []
    instead = (f"measured instead by {md_code('diffatlas demo run ' + check.instead)}" if check.instead
               else "no diffatlas demo measures it in its place")
    return [
        f"  - *{RUNS_HERE_WORDS[check.status]}* (checked {check.checked.isoformat()} on {md_text(check.machine)}). "
        f"Tried: {md_text(check.tried)}. What happened: {md_text(check.outcome)}",
        f"  - {instead}: {md_text(check.reason)}",
    ]


def _sort_key(paper: Paper):
    return (-(paper.year or 0), paper.title.lower())


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", name.lower()).replace(" ", "-")


def legend() -> str:
    """The line that explains the marks after a paper."""
    marks = " · ".join(f"{md_text(ORIGIN_MARKS[o])} {ORIGIN_WORDS[o]}" for o in ("refined", "curated"))
    return f"Marks: (none) {ORIGIN_WORDS['survey']} · {marks}."


def _node_lines(taxonomy: str, node, depth: int, papers: list[Paper]) -> list[str]:
    """A node's heading, description, counts by origin and paper lines."""
    here = sorted((p for p in papers if node.id in p.tags.get(taxonomy, [])), key=_sort_key)
    lines = [f"{'#' * min(depth + 2, 6)} {md_text(node.name)}", "", f"{md_code(node.id)}: {md_text(node.description)}", ""]
    if node.demo:
        lines += [f"Reference implementation: {md_code('diffatlas demo run ' + node.demo)}", ""]
    origins = [tag_origin(p, taxonomy, node.id) for p in here]
    if here:
        added = origins.count("curated")
        lines += [f"{len(here) - added} listed by the survey, {added} added by diffatlas.", ""]
    for paper, origin in zip(here, origins):
        lines += [paper_line(paper, ORIGIN_MARKS[origin]), *runs_here_lines(paper)]
    return lines + ([""] if here else [])


def _outside_lines(taxonomy: str, papers: list[Paper]) -> list[str]:
    """The closing section: papers marked `outside: {taxonomy: reason}`, each with its reason."""
    outside = sorted((p for p in papers if taxonomy in p.outside), key=_sort_key)
    if not outside:
        return []
    lines = [f"## {OUTSIDE_HEADING}", "", "Papers that fit no node of this tree, each with the reason diffatlas gives:", ""]
    for paper in outside:
        lines += [paper_line(paper), f"  - {md_text(paper.outside[taxonomy])}"]
    return lines + [""]


def render_taxonomy(catalog: Catalog, taxonomy: str) -> str:
    tax = catalog.taxonomies[taxonomy]
    papers = [p for p in catalog.papers.values() if p.kind != "background"]
    outside = _outside_lines(taxonomy, papers)
    lines = [
        f"# {md_text(tax.name)}",
        "",
        "<!-- Generated by `diffatlas render` from catalog/ and taxonomy/. Do not edit by hand. -->",
        "",
        md_text(tax.description),
        "",
        f"{sum(1 for p in papers if p.tags.get(taxonomy))} "
        f"papers are filed in this taxonomy (background papers are left out). Other views: "
        + ", ".join(f"[{md_text(t.name)}]({t.id}.md)" for t in catalog.taxonomies.values() if t.id != taxonomy) + ".",
        "",
        legend(),
        "",
        "## Contents",
        "",
    ]
    for node, depth in tax.walk():
        lines.append(f"{'  ' * depth}- [{md_text(node.name)}](#{_anchor(node.name)})")
    if outside:
        lines.append(f"- [{OUTSIDE_HEADING}](#{_anchor(OUTSIDE_HEADING)})")
    lines.append("")
    for node, depth in tax.walk():
        lines += _node_lines(taxonomy, node, depth, papers)
    lines += outside
    return "\n".join(lines).rstrip() + "\n"


def render_all(catalog: Catalog) -> dict[str, str]:
    pages = {f"{tid}.md": render_taxonomy(catalog, tid) for tid in catalog.taxonomies}
    index = ["# diffatlas paper lists", "", "<!-- Generated by `diffatlas render`. Do not edit by hand. -->", "",
             f"{len(catalog)} papers in the catalog, filed in three taxonomies:", ""]
    for tid, tax in catalog.taxonomies.items():
        index.append(f"- [{md_text(tax.name)}]({tid}.md): {md_text(tax.description)}")
    pages["README.md"] = "\n".join(index) + "\n"
    return pages
