"""Parse the two survey paper-list formats and merge them into the catalog.

Shen et al.'s list:  `- **[Venue Year(.MM)]** Title. [[Paper]](url) [[Code]](url)`
Ma et al.'s list:    `* Title [[Paper]](url) ![](https://img.shields.io/badge/Venue-Year-color)`

Entries may wrap over several lines. Each parsed entry keeps the section it was
filed under, so merging adds provenance (`listed_in`) to an existing paper
instead of creating a duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .textnorm import arxiv_from_url, normalize_title

_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*$")
_ENTRY_START = re.compile(r"^\s*[*-]\s*")
_LINK = re.compile(r"\[\[([^\]]+)\]\]\s*\(?\s*([^)\s]*)\)?")
_SHEN_BADGE = re.compile(r"^\*\*\[\s*([^\]]+?)\s*\]\*\*\s*")
_MA_BADGE = re.compile(r"img\.shields\.io/badge/\s*([^)\s]+?)\)")
_YEAR_MONTH = re.compile(r"(\d{4})(?:\.(\d{1,2}))?$")
_EMOJI_PREFIX = re.compile(r"^[^A-Za-z0-9]+")


@dataclass
class SourceEntry:
    """One paper as a survey's list gives it."""

    title: str
    section: str
    line: int
    venue: str | None = None
    year: int | None = None
    month: int | None = None
    url: str | None = None
    code: str | None = None
    raw_badge: str | None = None
    fixes: list[str] = field(default_factory=list)

    @property
    def arxiv(self) -> str | None:
        return arxiv_from_url(self.url)

    @property
    def key(self) -> str:
        return normalize_title(self.title)


def _clean_heading(text: str) -> str:
    text = _EMOJI_PREFIX.sub("", text).strip()
    return re.sub(r"\s+", " ", text)


def _logical_entries(text: str):
    """Yield (line_number, heading_path, joined_entry_text), joining wrapped lines."""
    headings: dict[int, str] = {}
    current: list[str] = []
    start = 0
    in_fence = False

    def path() -> str:
        return " > ".join(headings[level] for level in sorted(headings) if level >= 2)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.strip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        heading = _HEADING.match(line)
        if heading or not line.strip() or line.lstrip().startswith(("<", "|", ">")):
            if current:
                yield start, path(), " ".join(current)
                current = []
            if heading:
                level = len(heading.group(1))
                headings = {k: v for k, v in headings.items() if k < level}
                headings[level] = _clean_heading(heading.group(2))
            continue
        if _ENTRY_START.match(line):
            if current:
                yield start, path(), " ".join(current)
            current = [_ENTRY_START.sub("", line, count=1).strip()]
            start = number
        elif current:
            current.append(line.strip())
    if current:
        yield start, path(), " ".join(current)


def _fix_url(url: str, fixes: list[str]) -> str | None:
    url = url.strip().rstrip(".,;")
    if not url:
        return None
    if url.startswith("hhttp"):
        fixes.append(f"source link {url!r} had a doubled 'h'; corrected")
        url = url[1:]
    if not re.match(r"^https?://", url):
        return None
    return url


def _split_links(text: str, fixes: list[str]) -> tuple[str, str | None, str | None]:
    """Title before the first [[...]] link, the paper link and the code link."""
    first = text.find("[[")
    title = text[:first] if first >= 0 else text
    paper = code = None
    for label, url in _LINK.findall(text):
        url = _fix_url(url, fixes)
        label = label.lower()
        if label in ("paper", "online", "pdf") and paper is None:
            paper = url
        elif label in ("code",) and code is None:
            code = url
        elif label in ("project",) and paper is None:
            paper = url
    title = re.sub(r"\s+", " ", title).strip().rstrip(".").strip()
    return title, paper, code


def _year_month(text: str) -> tuple[int | None, int | None]:
    match = _YEAR_MONTH.search(text.strip())
    if not match:
        return None, None
    month = int(match.group(2)) if match.group(2) else None
    return int(match.group(1)), month if month and 1 <= month <= 12 else None


def _venue_name(raw: str) -> str | None:
    raw = raw.replace("_", " ").strip()
    if not raw or raw.isdigit():
        return None
    if raw.lower() == "arxiv":
        return "arXiv"
    return raw


def parse_shen(text: str) -> list[SourceEntry]:
    entries = []
    for line, section, body in _logical_entries(text):
        badge = _SHEN_BADGE.match(body)
        if not badge:
            continue
        fixes: list[str] = []
        rest = body[badge.end():]
        title, paper, code = _split_links(rest, fixes)
        venue_text = badge.group(1)
        parts = venue_text.rsplit(" ", 1)
        venue = _venue_name(parts[0]) if len(parts) == 2 else None
        year, month = _year_month(venue_text)
        entries.append(SourceEntry(title, section, line, venue, year, month, paper, code, venue_text, fixes))
    return entries


def parse_shen_frameworks(text: str) -> list[SourceEntry]:
    """The frameworks table: `| Name [[Code](url)] | ... |` rows."""
    entries = []
    row = re.compile(r"^\|\s*([^|\[]+?)\s*\[\[Code\]\((https?://[^)]+)\)\]")
    section = None
    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            section = _clean_heading(heading.group(2))
        match = row.match(line.strip())
        if match and section:
            name, url = match.group(1).strip(), match.group(2)
            entries.append(SourceEntry(name, section, number, url=url, code=url, raw_badge="framework table"))
    return entries


def parse_ma(text: str) -> list[SourceEntry]:
    entries = []
    for line, section, body in _logical_entries(text):
        if "[[" not in body:
            continue
        fixes: list[str] = []
        title, paper, code = _split_links(body, fixes)
        if not title:
            continue
        badge = _MA_BADGE.search(body)
        venue = year = month = None
        raw = None
        if badge:
            raw = badge.group(1)
            parts = raw.split("-")
            if len(parts) >= 2:
                date = parts[-2]
                venue = _venue_name("-".join(parts[:-2]))
                year, month = _year_month(date)
        entries.append(SourceEntry(title, section, line, venue, year, month, paper, code, raw, fixes))
    return entries


PARSERS = {"shen": parse_shen, "ma": parse_ma}


def parse_file(path: Path, fmt: str) -> list[SourceEntry]:
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if fmt not in PARSERS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(PARSERS)}")
    entries = PARSERS[fmt](text)
    if fmt == "shen":
        entries += parse_shen_frameworks(text)
    return entries
