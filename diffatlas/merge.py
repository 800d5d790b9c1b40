"""Merge outside entries (survey lists, BibTeX) into the catalog without duplicates.

A new paper becomes a stub file that `diffatlas validate` will flag until a
curator adds the summary and taxonomy tags; a paper the catalog already holds
only gains the new provenance. Existing files are never replaced wholesale.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog
from .importers import SourceEntry
from .placement import SECTION_NODES, section_node  # noqa: F401 (re-exported)
from .textnorm import arxiv_from_url, derive_id, normalize_title
from .yamlio import dump_yaml, load_yaml, ordered_paper_dict, write_new_file

class MatchIndex:
    """Finds the catalog paper an outside entry refers to, by title, arXiv id or link."""

    def __init__(self, catalog: Catalog, folder: Path):
        self.by_key: dict[str, str] = {}
        for paper in catalog.papers.values():
            self.add(paper.id, paper.title, paper.arxiv, paper.url)
            for listing in paper.listed_in:
                self.add(paper.id, listing.title, None, listing.url)
        # Files that do not validate yet (fresh stubs) still count as present.
        for path, data in _raw_files(catalog, folder).items():
            self.add(data.get("id", path.stem), data.get("title"), data.get("arxiv"), data.get("url"))
            for listing in data.get("listed_in") or []:
                if isinstance(listing, dict):
                    self.add(data.get("id", path.stem), listing.get("title"), None, listing.get("url"))

    def add(self, pid, title, arxiv, url) -> None:
        if title and len(normalize_title(str(title))) > 8:
            self.by_key.setdefault("t:" + normalize_title(str(title)), pid)
        arxiv = arxiv or arxiv_from_url(url)
        if arxiv:
            self.by_key.setdefault("a:" + str(arxiv), pid)
        if url:
            self.by_key.setdefault("u:" + str(url).rstrip("/"), pid)

    def find(self, title: str, arxiv: str | None, url: str | None) -> str | None:
        """Title first, then arXiv id, then link; absent values are simply not looked up."""
        arxiv = arxiv or arxiv_from_url(url)
        keys = ["t:" + normalize_title(title)]
        keys += ["a:" + str(arxiv)] if arxiv else []
        keys += ["u:" + str(url).rstrip("/")] if url else []
        return next((self.by_key[k] for k in keys if k in self.by_key), None)


def _raw_files(catalog: Catalog, folder: Path) -> dict[Path, dict]:
    out = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.stem in catalog.papers:
            continue
        try:
            data = load_yaml(path)
        except Exception:  # a broken file is reported by validate, not here
            continue
        if isinstance(data, dict):
            out[path] = data
    return out


@dataclass
class MergeReport:
    parsed: int = 0
    matched: list[tuple[SourceEntry, str]] = field(default_factory=list)
    provenance_added: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    repeated_in_source: list[SourceEntry] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.parsed} entries parsed: {len(self.matched)} already in the catalog "
            f"({len(self.provenance_added)} gained provenance), {len(self.created)} new stubs, "
            f"{len(self.repeated_in_source)} repeated within the source"
        )


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def unique_id(base: str, folder: Path, taken: set[str]) -> str:
    candidate, n = base, 1
    while candidate in taken or (folder / f"{candidate}.yaml").exists():
        n += 1
        candidate = f"{base}-{chr(ord('a') + n - 2)}" if n <= 27 else f"{base}-{n}"
    return candidate


def _listing(entry: SourceEntry, survey: str) -> dict:
    item = {"survey": survey, "section": entry.section, "title": entry.title}
    if entry.raw_badge:
        item["venue"] = entry.raw_badge
    if entry.url:
        item["url"] = entry.url
    return item


def merge_entries(catalog: Catalog, entries: list[SourceEntry], survey: str, folder: Path, dry_run: bool = False) -> MergeReport:
    index = MatchIndex(catalog, folder)
    report = MergeReport(parsed=len(entries))
    created: set[str] = set()
    taken: set[str] = set(catalog.papers)
    node_for = lambda e: section_node(survey, e.section)  # noqa: E731
    for entry in entries:
        pid = index.find(entry.title, entry.arxiv, entry.url)
        if pid in created:
            report.repeated_in_source.append(entry)
            continue
        if pid:
            report.matched.append((entry, pid))
            if _add_provenance(folder / f"{pid}.yaml", entry, survey, node_for(entry), dry_run):
                report.provenance_added.append(pid)
            continue
        new_id = unique_id(derive_id(entry.title, entry.year), folder, taken)
        taken.add(new_id)
        stub = {
            "id": new_id, "title": entry.title, "year": entry.year, "month": entry.month,
            "venue": entry.venue, "arxiv": entry.arxiv, "url": entry.url, "code": entry.code,
            "kind": "framework" if node_for(entry) == "framework" else "paper",
            "tags": {survey: [node_for(entry)]} if node_for(entry) else {},
            "listed_in": [_listing(entry, survey)],
            "notes": list(entry.fixes),
        }
        if not dry_run:
            write_new_file(folder / f"{new_id}.yaml", dump_yaml(ordered_paper_dict(stub)))
        index.add(new_id, entry.title, entry.arxiv, entry.url)
        created.add(new_id)
        report.created.append(new_id)
    return report


def _add_provenance(path: Path, entry: SourceEntry, survey: str, node: str | None, dry_run: bool) -> bool:
    data = load_yaml(path)
    listings = data.setdefault("listed_in", [])
    if any(item.get("survey") == survey and item.get("section") == entry.section for item in listings):
        return False
    listings.append(_listing(entry, survey))
    if node:
        tags = data.setdefault("tags", {}).setdefault(survey, [])
        if node not in tags and not any(t.startswith(node + ".") for t in tags):
            tags.append(node)
    if not dry_run:
        atomic_write(path, dump_yaml(ordered_paper_dict(data)))
    return True
