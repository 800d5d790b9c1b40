"""BibTeX records -> new catalog stubs; duplicates are named and skipped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog
from .merge import MatchIndex, unique_id
from .models import ID_PATTERN
from .textnorm import arxiv_from_url, derive_id
from .yamlio import dump_yaml, ordered_paper_dict, write_new_file


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would create" if self.dry_run else "created"
        out = [f"{verb} {pid}" for pid in self.created]
        out += [f"skipped {key}: duplicate of existing entry {pid}" for key, pid in self.duplicates]
        out.append(f"{len(self.created)} {verb}, {len(self.duplicates)} duplicates skipped")
        if self.created and not self.dry_run:
            out.append("New stubs need a summary and tags: run 'diffatlas validate' to see what to fill in.")
        return out


def record_to_stub(record: dict, paper_id: str) -> dict:
    stub = {k: v for k, v in record.items() if k != "bibkey"}
    stub["id"] = paper_id
    if not stub.get("arxiv"):
        stub["arxiv"] = arxiv_from_url(stub.get("url"))
    return ordered_paper_dict(stub)


def choose_id(record: dict, folder: Path, taken: set[str]) -> str:
    key = str(record.get("bibkey", "")).lower()
    key = re.sub(r"[^a-z0-9-]+", "-", key).strip("-")
    base = key if re.match(ID_PATTERN, key or "-") else derive_id(record["title"], record.get("year"))
    return unique_id(base, folder, taken)


def import_records(catalog: Catalog, folder: Path, records: list[dict], dry_run: bool = False) -> ImportResult:
    index = MatchIndex(catalog, folder)
    result = ImportResult(dry_run=dry_run)
    taken = set(catalog.papers)
    dois = {p.doi.lower(): p.id for p in catalog.papers.values() if p.doi}
    for record in records:
        existing = index.find(record["title"], record.get("arxiv"), record.get("url"))
        existing = existing or dois.get(str(record.get("doi", "")).lower())
        if existing:
            result.duplicates.append((record.get("bibkey", record["title"]), existing))
            continue
        paper_id = choose_id(record, folder, taken)
        taken.add(paper_id)
        if not dry_run:
            write_new_file(folder / f"{paper_id}.yaml", dump_yaml(record_to_stub(record, paper_id)))
        index.add(paper_id, record["title"], record.get("arxiv"), record.get("url"))
        result.created.append(paper_id)
    return result
