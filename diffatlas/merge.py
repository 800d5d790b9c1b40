"""Merge outside entries (survey lists, BibTeX) into the catalog without duplicates.

A new paper becomes a stub file that `diffatlas validate` will flag until a
curator adds the summary and taxonomy tags; a paper the catalog already holds
only gains the new provenance. Existing files are never replaced wholesale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog
from .dedupe import Key, entry_keys, listing_keys, paper_keys
from .importers import SourceEntry
from .placement import SECTION_NODES, section_node  # noqa: F401 (re-exported)
from .textnorm import derive_id
from .yamlio import atomic_write, dump_yaml, load_yaml, ordered_paper_dict, write_new_file  # noqa: F401 (atomic_write re-exported)


class MatchIndex:
    """Finds the catalog paper an outside entry refers to, by the keys of diffatlas.dedupe.

    Built only from what the loader already parsed: validated papers, and the files
    that parsed but did not validate yet (fresh stubs still count as present). It
    never opens a file, so a file the loader refused (an alias bomb, a FIFO) is never
    expanded here. `folder` is accepted for the callers' convenience and not read.
    """

    def __init__(self, catalog: Catalog, folder: Path | None = None):
        self.by_key: dict[str, str] = {}
        for paper in catalog.papers.values():
            self.add_keys(paper.id, paper_keys(paper))
            for listing in paper.listed_in:
                self.add_keys(paper.id, listing_keys(listing))
        for path, data in catalog.unvalidated.items():
            pid = Path(path).stem  # the file's name, never its claimed id: that is where it lives
            self.add_keys(pid, paper_keys(data))
            listings = data.get("listed_in")
            for listing in listings if isinstance(listings, list) else []:
                if isinstance(listing, dict):
                    self.add_keys(pid, listing_keys(listing))

    def add_keys(self, pid: str, keys: list[Key]) -> None:
        for key in keys:
            self.by_key.setdefault(key.token, pid)

    def add(self, pid, title, arxiv=None, url=None, doi=None) -> None:
        self.add_keys(pid, entry_keys(title, arxiv, url, doi))

    def match(self, title, arxiv=None, url=None, doi=None) -> tuple[str, Key] | None:
        """(paper id, the key it shares) for the first key found: title, then arXiv id, link, DOI."""
        for key in entry_keys(title, arxiv, url, doi):
            if key.token in self.by_key:
                return self.by_key[key.token], key
        return None

    def find(self, title, arxiv=None, url=None, doi=None) -> str | None:
        found = self.match(title, arxiv, url, doi)
        return found[0] if found else None


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


def unique_id(base: str, folder: Path, taken: set[str]) -> str:
    candidate, n = base, 1
    while candidate in taken or os.path.lexists(folder / f"{candidate}.yaml"):
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
    """Record the survey's listing (and its node) in an existing file; False when already there or not editable."""
    data = load_yaml(path)
    listings = (data.get("listed_in") or []) if isinstance(data, dict) else None
    tags = (data.get("tags") or {}) if isinstance(data, dict) else None
    if not isinstance(listings, list) or not isinstance(tags, dict):
        return False  # a file validate reports as broken is not rewritten
    if any(isinstance(item, dict) and item.get("survey") == survey and item.get("section") == entry.section for item in listings):
        return False
    data["listed_in"] = listings + [_listing(entry, survey)]
    here = tags.get(survey, [])
    if node and isinstance(here, list) and node not in here and not any(str(t).startswith(node + ".") for t in here):
        data["tags"] = {**tags, survey: here + [node]}
    if not dry_run:
        atomic_write(path, dump_yaml(ordered_paper_dict(data)))
    return True
