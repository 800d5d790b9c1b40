"""Turn what a contributor has (BibTeX, an arXiv id, plain fields) into a checked catalog entry.

Shared by `diffatlas add` and the app's Contribute page, so both refuse the same
bad input with the same messages. Nothing here writes a file except
`write_entry`, which refuses to overwrite one.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from .bibtex import BibtexError, parse_bibtex, read_bib_bytes
from .catalog import MAIN_TREES, Catalog, describe_key
from .merge import MatchIndex
from .models import ARXIV_ID_RE, Paper
from .problems import from_validation_error
from .textnorm import arxiv_from_url, derive_id
from .venues import short_venue
from .yamlio import dump_yaml, ordered_paper_dict, write_new_file

ARXIV_API = "https://export.arxiv.org/api/query"


# How a contributor sets each field, in the words of the tool they use: `diffatlas add`'s flags here,
# the Contribute page's field labels there, so no message names a control its reader does not have.
CLI_HOW = {
    "title": "pass --title or a BibTeX entry with title = {...}",
    "year": "pass --year YYYY",
    "id": "choose another id with --id",
    "summary": "pass --summary \"...\" (one or two sentences in your own words)",
    "tags": "add --tag {tid}:<node>",
}
PAGE_HOW = {
    "title": "fill in 'Title' or paste a BibTeX entry with title = {...}",
    "year": "fill in 'Year' or add year = {YYYY} to the BibTeX",
    "id": "type another one in 'Id'",
    "summary": "write one or two sentences of your own in 'Summary'",
    "tags": "pick a node under '{name}'",
}


class ContributionError(ValueError):
    """Input that cannot become a catalog entry; the message names the field and the fix."""


@dataclass
class Draft:
    """An entry being prepared, with every problem found so far."""

    data: dict
    errors: list[str] = field(default_factory=list)
    duplicate: str | None = None  # id of the catalog paper this one already is

    @property
    def ok(self) -> bool:
        return not self.errors

    def yaml(self) -> str:
        return dump_yaml(ordered_paper_dict(self.data))


def fields_from_bibtex(text: str | bytes, source: str = "<bibtex>") -> dict:
    """The catalog fields of exactly one BibTeX entry (bytes must be UTF-8); every problem named, else none used."""
    try:
        text = read_bib_bytes(text, source) if isinstance(text, bytes) else text
    except BibtexError as exc:
        raise ContributionError(str(exc)) from None
    parsed = parse_bibtex(text, source)
    if parsed.errors:
        raise ContributionError("\n".join(parsed.errors))
    if len(parsed.records) != 1:
        raise ContributionError(f"{source}: expected exactly one BibTeX entry, found {len(parsed.records)}; add one paper at a time")
    record = dict(parsed.records[0])
    record.pop("bibkey", None)
    return record


def complete_fields(fields: dict) -> dict:
    """The fields with what can be derived filled in: the link from the arXiv id or DOI, the venue's short form.

    A normal arXiv BibTeX has eprint but no url; the catalog wants a link, and
    https://arxiv.org/abs/<id> (or https://doi.org/<doi>) is that link.
    """
    data = {k: v for k, v in fields.items() if v not in (None, "", [], {})}
    if data.get("url") and not data.get("arxiv"):
        data["arxiv"] = arxiv_from_url(data["url"])
        if not data["arxiv"]:
            del data["arxiv"]
    if not data.get("url"):
        if data.get("arxiv"):
            data["url"] = f"https://arxiv.org/abs/{data['arxiv']}"
        elif data.get("doi"):
            data["url"] = f"https://doi.org/{data['doi']}"
    if data.get("venue"):
        data["venue"] = short_venue(data["venue"])
    elif data.get("arxiv"):
        data["venue"] = "arXiv"
    return data


def fields_from_arxiv(arxiv_id: str, timeout: float = 10.0) -> dict:
    """Title, authors, year and month from the arXiv API; offline it says to use --bibtex."""
    arxiv_id = arxiv_id.strip().removeprefix("arXiv:").removeprefix("arxiv:")
    arxiv_id = re.sub(r"v\d+$", "", arxiv_id)
    if not ARXIV_ID_RE.match(arxiv_id):
        raise ContributionError(f"field 'arxiv': {arxiv_id!r} is not an arXiv id such as 2206.00927")
    api = os.environ.get("DIFFATLAS_ARXIV_API", ARXIV_API)  # overridable for tests and mirrors
    url = f"{api}?{urllib.parse.urlencode({'id_list': arxiv_id})}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https endpoint)
            body = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ContributionError(
            f"could not reach arXiv to fetch {arxiv_id} ({getattr(exc, 'reason', exc)}); "
            "you seem to be offline: download the BibTeX from the arXiv page and use 'diffatlas add --bibtex FILE', "
            "or give --title/--year/--url yourself"
        ) from None
    atom = "{http://www.w3.org/2005/Atom}"
    try:
        entry = ET.fromstring(body).find(f"{atom}entry")
    except ET.ParseError as exc:
        raise ContributionError(f"arXiv answered with something that is not Atom XML ({exc}); use --bibtex instead") from None
    title = entry.findtext(f"{atom}title") if entry is not None else None
    if not title or entry.find(f"{atom}id") is None or "api/errors" in (entry.findtext(f"{atom}id") or ""):
        raise ContributionError(f"arXiv has no paper {arxiv_id}; check the id")
    published = entry.findtext(f"{atom}published") or ""
    authors = [a.findtext(f"{atom}name").strip() for a in entry.findall(f"{atom}author") if a.findtext(f"{atom}name")]
    data = {
        "title": re.sub(r"\s+", " ", title).strip(),
        "authors": authors,
        "arxiv": arxiv_id,
        "url": f"https://arxiv.org/abs/{arxiv_id}",
        "venue": "arXiv",
    }
    if re.match(r"\d{4}-\d{2}", published):
        data["year"], data["month"] = int(published[:4]), int(published[5:7])
    return data


def parse_tags(values: list[str], catalog: Catalog) -> tuple[dict[str, list[str]], list[str]]:
    """'shen2025:algorithm.sampling.solver' strings -> tags dict, with close-match hints."""
    tags: dict[str, list[str]] = {}
    errors = []
    for value in values:
        tid, sep, node_id = value.partition(":")
        if not sep or not node_id:
            errors.append(f"field 'tags': {value!r} is not TAXONOMY:NODE, e.g. shen2025:algorithm.sampling.solver")
            continue
        if tid not in catalog.taxonomies:
            errors.append(f"field 'tags': unknown taxonomy {tid!r}; use one of {', '.join(sorted(catalog.taxonomies))}")
            continue
        index = catalog.node_index[tid]
        if node_id not in index:
            close = difflib.get_close_matches(node_id, list(index), n=3, cutoff=0.4)
            hint = f"did you mean {', '.join(close)}?" if close else f"list them with 'diffatlas stats --nodes {tid}'"
            errors.append(f"field 'tags.{tid}': unknown taxonomy node {node_id!r}; {hint}")
            continue
        tags.setdefault(tid, []).append(node_id)
    return tags, errors


def prepare(fields: dict, tags: dict[str, list[str]], catalog: Catalog, folder: Path, paper_id: str | None = None,
            how: dict[str, str] = CLI_HOW) -> Draft:
    """Build the entry, then collect every reason it cannot go into the catalog.

    `how` says how the reader sets a field (CLI_HOW or PAGE_HOW); file names are
    given relative to the catalog, never as a path on the machine that checks.
    """
    data = complete_fields(fields)
    if tags:
        data["tags"] = tags
    draft = Draft(data)
    if not data.get("title"):
        draft.errors.append(f"field 'title': missing; {how['title']}")
    year = data.get("year")
    if year is None:
        draft.errors.append(f"field 'year': missing; {how['year']}")
    elif not isinstance(year, int) or not 1900 <= year <= _dt.date.today().year:
        draft.errors.append(f"field 'year': {year!r} is not between 1900 and {_dt.date.today().year}; check it")
    if draft.errors:
        return draft
    duplicate = MatchIndex(catalog).match(data["title"], data.get("arxiv"), data.get("url"), data.get("doi"))
    if duplicate:
        pid, key = duplicate
        draft.duplicate = pid
        draft.errors.append(f"already in the catalog: open {pid}. This is a duplicate: the catalog already has this paper "
                            f"as {pid} ({_catalog_name(folder, pid)}), same {describe_key(key)}; edit that file instead")
        return draft  # nothing else about a second copy matters
    data["id"] = paper_id or derive_id(data["title"], data["year"])
    target = folder / f"{data['id']}.yaml"
    if os.path.lexists(target) and data["id"] != draft.duplicate:
        draft.errors.append(f"field 'id': {_catalog_name(folder, data['id'])} already exists; {how['id']} "
                            "(files are never overwritten)")
    if not data.get("summary"):
        draft.errors.append(f"field 'summary': missing; {how['summary']}")
    try:
        Paper.model_validate(ordered_paper_dict(data))
    except ValidationError as exc:
        for problem in from_validation_error(target, exc):
            if problem.field == "summary" and not data.get("summary"):
                continue  # already explained above
            where = f"field '{problem.field}': " if problem.field else ""
            draft.errors.append(where + problem.message + (f"; {problem.hint}" if problem.hint else ""))
    if data.get("kind", "paper") in ("paper", "framework"):
        for tid in MAIN_TREES:
            if not data.get("tags", {}).get(tid):
                name = catalog.taxonomies[tid].name if tid in catalog.taxonomies else tid
                draft.errors.append(f"field 'tags.{tid}': a paper must be placed in the {tid} tree; "
                                    + how["tags"].format(tid=tid, name=name))
    return draft


def _catalog_name(folder: Path, paper_id: str) -> str:
    """A paper file's name as the catalog knows it (papers/<id>.yaml), not the checking machine's path."""
    return f"{folder.name}/{paper_id}.yaml"


def unread_note(catalog: Catalog) -> str | None:
    """A reminder, for commands that check duplicates, that files refused unread are left out of the check."""
    if not catalog.unread:
        return None
    names = ", ".join(path.name for path in catalog.unread[:3]) + (", ..." if len(catalog.unread) > 3 else "")
    return (f"note: {len(catalog.unread)} catalog file(s) could not be read, so the duplicate check leaves them out "
            f"({names}); run 'diffatlas validate' for why")


def write_entry(draft: Draft, folder: Path) -> Path:
    if not draft.ok:
        raise ContributionError("\n".join(draft.errors))
    path = folder / f"{draft.data['id']}.yaml"
    write_new_file(path, draft.yaml())
    return path


def leaf_choices(catalog: Catalog, taxonomy: str) -> list[tuple[str, str]]:
    """(node id, indented label) for every node of a tree, for pickers."""
    tax = catalog.taxonomies[taxonomy]
    return [(node.id, f"{'  ' * depth}{node.id}  ({node.name})") for node, depth in tax.walk()]
