"""BibTeX out of and into the catalog, through bibtexparser 2.x.

Export writes one entry per paper keyed by its catalog id; import reads any
.bib file into catalog-shaped dicts. The two are inverse on the fields BibTeX
holds (title, authors, year, month, venue, DOI, arXiv id, URL and any other
field, which is kept in `bibtex_extra`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

import bibtexparser
from bibtexparser.model import Entry, Field

from .models import Paper

JOURNALS = {
    "jmlr", "tmlr", "tpami", "ijcv", "tog", "acm transactions on graphics", "acm computing surveys",
    "nature", "science", "journal", "transactions",
}
NON_VENUES = {"arxiv", "online", "computer science", "preprint"}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_ESCAPES = [("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("#", "\\#"), ("_", "\\_"), ("$", "\\$")]
STANDARD = {"title", "author", "year", "month", "journal", "booktitle", "howpublished", "doi",
            "eprint", "archiveprefix", "url"}


class BibtexError(ValueError):
    """A .bib input that cannot be used; the message says where and why."""


def _escape(text: str) -> str:
    text = text.replace("{", "").replace("}", "")
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def _unescape(text: str) -> str:
    """Inverse of _escape, applied after braces were stripped (so \\textbackslash has lost its {})."""
    for raw, escaped in reversed(_ESCAPES):
        text = text.replace(escaped.replace("{}", ""), raw)
    return text


def _strip_braces(value: str) -> str:
    value = value.strip()
    while value.startswith("{") and value.endswith("}") and _balanced(value[1:-1]):
        value = value[1:-1].strip()
    return re.sub(r"(?<!\\)[{}]", "", value)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if depth < 0:
            return False
    return depth == 0


def _first_last(name: str) -> str:
    """'Song, Jiaming' -> 'Jiaming Song' (and 'Last, Jr, First' -> 'First Last Jr'), as the catalog writes names."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 2:
        return f"{parts[1]} {parts[0]}".strip()
    if len(parts) == 3:
        return f"{parts[2]} {parts[0]} {parts[1]}".strip()
    return name.strip()


def entry_type(paper: Paper) -> str:
    if paper.bibtex_type:
        return paper.bibtex_type
    venue = (paper.venue or "").lower()
    if not venue or venue in NON_VENUES or paper.kind == "framework":
        return "misc"
    if any(word in venue for word in JOURNALS):
        return "article"
    return "inproceedings"


def paper_to_entry(paper: Paper) -> Entry:
    kind = entry_type(paper)
    fields = [Field("title", "{" + _escape(paper.title) + "}")]
    if paper.authors:
        fields.append(Field("author", " and ".join(_escape(a) for a in paper.authors)))
    if paper.year:
        fields.append(Field("year", str(paper.year)))
    if paper.month:
        fields.append(Field("month", MONTHS[paper.month - 1]))
    if paper.venue:
        venue_field = {"article": "journal", "inproceedings": "booktitle"}.get(kind, "howpublished")
        fields.append(Field(venue_field, _escape(paper.venue)))
    if paper.doi:
        fields.append(Field("doi", paper.doi))
    if paper.arxiv:
        fields.extend([Field("eprint", paper.arxiv), Field("archiveprefix", "arXiv")])
    if paper.url:
        fields.append(Field("url", paper.url))
    for key, value in sorted(paper.bibtex_extra.items()):
        if key.lower() not in STANDARD:
            fields.append(Field(key, _escape(value)))
    return Entry(kind, paper.id, fields)


def export_bibtex(papers: Iterable[Paper]) -> str:
    """Unresolved entries are left out: they name a work, not a citable record."""
    library = bibtexparser.Library()
    for paper in sorted((p for p in papers if not p.unresolved), key=lambda p: p.id):
        library.add(paper_to_entry(paper))
    return bibtexparser.write_string(library)


@dataclass
class ParsedBib:
    records: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_bibtex(text: str, source: str = "<input>") -> ParsedBib:
    """Entries as catalog-shaped dicts; every unusable block becomes an error line."""
    library = bibtexparser.parse_string(text)
    out = ParsedBib()
    for block in library.failed_blocks:
        line = getattr(block, "start_line", None)
        where = f"{source}:{line + 1}" if isinstance(line, int) else source
        error = getattr(block, "error", None)
        out.errors.append(f"{where}: malformed BibTeX ({error or type(block).__name__}); check the braces and commas of that entry")
    for entry in library.entries:
        fields = {f.key.lower(): _unescape(_strip_braces(str(f.value))) for f in entry.fields}
        where = f"{source}:{entry.start_line + 1} @{entry.entry_type}{{{entry.key}}}"
        if not fields.get("title"):
            out.errors.append(f"{where}: field 'title' is missing; add title = {{...}}")
            continue
        year = fields.get("year", "")
        if not re.fullmatch(r"\d{4}", year):
            out.errors.append(f"{where}: field 'year' is missing or not a four-digit year (got {year!r}); add year = {{YYYY}}")
            continue
        record: dict = {
            "bibkey": entry.key, "title": re.sub(r"\s+", " ", fields["title"]), "year": int(year),
            "bibtex_type": entry.entry_type.lower(),
        }
        if fields.get("author"):
            record["authors"] = [_first_last(a) for a in re.split(r"\s+and\s+", fields["author"]) if a.strip()]
        month = fields.get("month", "").lower()[:3]
        if month in MONTHS:
            record["month"] = MONTHS.index(month) + 1
        elif month.isdigit() and 1 <= int(month) <= 12:
            record["month"] = int(month)
        venue = fields.get("booktitle") or fields.get("journal") or fields.get("howpublished")
        if venue:
            record["venue"] = venue
        if fields.get("doi"):
            record["doi"] = fields["doi"]
        if fields.get("eprint") and fields.get("archiveprefix", "arxiv").lower() == "arxiv":
            record["arxiv"] = fields["eprint"]
        if fields.get("url"):
            record["url"] = fields["url"]
        extra = {k: v for k, v in fields.items() if k not in STANDARD}
        if extra:
            record["bibtex_extra"] = extra
        out.records.append(record)
    return out
