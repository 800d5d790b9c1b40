"""BibTeX records -> new catalog stubs, all or nothing: duplicates are named and skipped,
and one refused entry stops the whole import (a partial import is hard to finish by hand)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .bibtex import parse_bibtex
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
    refused: list[str] = field(default_factory=list)  # the entries that stopped the import
    errors: list[str] = field(default_factory=list)  # why, one line per problem
    skipped: list[str] = field(default_factory=list)  # read but not papers (crossref parents)

    def lines(self) -> list[str]:
        """The report: every refused entry and why, or what was (or would be) created."""
        if self.refused:
            count = f"{len(self.refused)} {'entry' if len(self.refused) == 1 else 'entries'} refused"
            return self.errors + [f"{count}; nothing was imported: fix {'it' if len(self.refused) == 1 else 'them'} "
                                  "and run the import again"]
        verb = "would create" if self.dry_run else "created"
        out = [f"{verb} {pid}" for pid in self.created]
        out += [f"skipped {key}: duplicate of existing entry {pid}" for key, pid in self.duplicates]
        out += [f"skipped {line}" for line in self.skipped]
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


def _write_all(folder: Path, stubs: dict[str, dict]) -> None:
    """Write every stub or, if one write fails, remove the ones this call wrote and re-raise."""
    written: list[Path] = []
    try:
        for paper_id, stub in stubs.items():
            path = folder / f"{paper_id}.yaml"
            write_new_file(path, dump_yaml(stub))
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def import_records(catalog: Catalog, folder: Path, records: list[dict], dry_run: bool = False) -> ImportResult:
    """Stubs for the records the catalog does not hold yet; written only after all are planned."""
    index = MatchIndex(catalog, folder)
    result = ImportResult(dry_run=dry_run)
    taken = set(catalog.papers)
    stubs: dict[str, dict] = {}
    for record in records:
        keys = (record["title"], record.get("arxiv"), record.get("url"), record.get("doi"))
        existing = index.find(*keys)
        if existing:
            result.duplicates.append((record.get("bibkey", record["title"]), existing))
            continue
        paper_id = choose_id(record, folder, taken)
        taken.add(paper_id)
        stubs[paper_id] = record_to_stub(record, paper_id)
        index.add(paper_id, *keys)  # a later entry of the same file is a duplicate of this one
        result.created.append(paper_id)
    if not dry_run:
        _write_all(folder, stubs)
    return result


def import_bibtex(catalog: Catalog, folder: Path, text: str, source: str, dry_run: bool = False) -> ImportResult:
    """A whole .bib file: every entry is imported, or (when any is refused) none is."""
    parsed = parse_bibtex(text, source)
    if parsed.errors:
        return ImportResult(dry_run=dry_run, refused=parsed.refused, errors=parsed.errors, skipped=parsed.skipped)
    result = import_records(catalog, folder, parsed.records, dry_run)
    result.skipped = parsed.skipped
    return result
