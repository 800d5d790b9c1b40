"""BibTeX out of and into the catalog, through bibtexparser 2.x and pylatexenc.

Export (`export_bibtex`) writes one entry per paper keyed by its catalog id, in
the form a real `bibtex` run accepts: pure ASCII (non-ASCII as LaTeX, see
bibtex_latex), titles with acronyms and names brace-protected, `month = feb` as
a bare macro, and an entry type that matches the venue. The venue table:

    the paper's bibtex_type, when set             -> that type (always wins)
    no venue, arXiv, OpenReview, Online, OpenAI,
      and every framework (software)              -> @misc, howpublished = venue
    a journal: JOURNALS, or a name with the word
      Journal, Transactions or Letters            -> @article, journal = venue
    "PhD thesis, SCHOOL"                          -> @phdthesis, school
    "Technical report, INSTITUTION" (or a bare
      "Technical report" + bibtex_extra institution) -> @techreport, institution
    "Technical report" naming no institution      -> @misc, howpublished
    anything else: conferences, workshops         -> @inproceedings, booktitle

SIGGRAPH and SIGGRAPH Asia conference-track papers are @inproceedings; a paper
published in ACM TOG has "ACM Transactions on Graphics" (or TOG) as its venue.

Import (`parse_bibtex`) reads any .bib text into catalog-shaped dicts the way
BibTeX itself would (@string macros, `#` concatenation, the predefined month
macros, crossref; LaTeX decoded to Unicode) and refuses, with the entry key and
the field, whatever it cannot read faithfully. Export and import are inverse on
the catalog's fields; any other field is kept verbatim in `bibtex_extra`.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable

import bibtexparser
from bibtexparser.middlewares.names import InvalidNameError, parse_single_name_into_parts, split_multiple_persons_names
from bibtexparser.model import (
    DuplicateBlockKeyBlock, DuplicateFieldKeyBlock, Entry, Field, ImplicitComment, ParsingFailedBlock, String,
)

from .bibtex_latex import LatexError, latex_to_text, text_to_latex, title_to_latex
from .models import Paper
from .textnorm import ARXIV_ID_RE

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"]
JOURNALS = {
    "jmlr", "tmlr", "tpami", "pami", "ijcv", "tog", "acm transactions on graphics", "acm computing surveys", "csur",
    "nature", "nature communications", "nature machine intelligence", "science", "pnas", "taslp", "tip", "tmm",
    "tcsvt", "tnnls", "entropy", "neurocomputing", "pattern recognition",
}
JOURNAL_WORDS = {"journal", "transactions", "letters"}
NON_VENUES = {"arxiv", "online", "openreview", "openai", "preprint", "computer science"}
VENUE_FIELD = {  # the field that holds the catalog's venue, by entry type; every other type: howpublished
    "article": "journal", "inproceedings": "booktitle", "conference": "booktitle", "incollection": "booktitle",
    "phdthesis": "school", "mastersthesis": "school", "techreport": "institution", "book": "publisher",
}
VENUE_PREFIX = {"phdthesis": "PhD thesis, ", "mastersthesis": "Master's thesis, ", "techreport": "Technical report, "}
BIBTEX_TYPES = {"article", "book", "booklet", "conference", "inbook", "incollection", "inproceedings", "manual",
                "mastersthesis", "misc", "phdthesis", "proceedings", "techreport", "unpublished"}
TYPE_ALIASES = {"online": "misc", "electronic": "misc", "www": "misc", "software": "misc", "dataset": "misc",
                "report": "techreport"}  # biblatex types, as the BibTeX type a plain style knows
NAME_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}
EXTRA_KEY = re.compile(r"^[a-z][a-z0-9_-]*$")
MAX_BIB_BYTES = 1_000_000  # bib/catalog.bib is 140 KB; bibtexparser reads a hostile 1 MB in about 7 s
MAX_FIELD_CHARS = 20_000  # a long abstract is 3,000


class BibtexError(ValueError):
    """A .bib input (or a catalog entry) that cannot be used; the message says where, why and what to do."""


# --- export ---------------------------------------------------------------------------------

def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def _prefixed(kind: str, venue: str) -> str:
    """The venue without its 'PhD thesis, ' style prefix: what goes into school or institution.

    A bare 'Technical report' names no institution: empty, so bibtex_extra's institution is used.
    """
    prefix = VENUE_PREFIX.get(kind, "")
    if prefix and venue.lower().startswith(prefix.rstrip(", ").lower()):
        return venue[len(prefix):].strip() if venue.lower().startswith(prefix.lower()) else ""
    return venue


def entry_type(paper: Paper) -> str:
    """The venue table of the module docstring."""
    if paper.bibtex_type:
        return paper.bibtex_type
    venue = (paper.venue or "").strip()
    low = venue.lower()
    if not venue or low in NON_VENUES or paper.kind == "framework":
        return "misc"
    for kind, prefix in VENUE_PREFIX.items():
        if low.startswith(prefix.rstrip(", ").lower()):
            return kind if _prefixed(kind, venue) or VENUE_FIELD[kind] in paper.bibtex_extra else "misc"
    if low in JOURNALS or JOURNAL_WORDS & set(low.split()):
        return "article"
    return "inproceedings"


CORPORATE_WORDS = {"team", "group", "lab", "labs", "consortium", "collaboration", "project", "inc.", "ltd."}


def name_to_bibtex(name: str) -> str:
    """A catalog name ('First von Last Jr.') as BibTeX reads it back the same way.

    A suffix needs the 'von Last, Jr., First' form (else 'Jr.' becomes the last name);
    a name holding a comma or the word 'and' is braced whole (else it splits in two), and so is
    a corporate author such as 'Kolors Team' (else 'Team' becomes a surname).
    """
    if "," in name or re.search(r"\band\b", name, re.I) or name.split()[-1].lower() in CORPORATE_WORDS:
        return "{" + text_to_latex(name) + "}"
    words = name.split()
    if len(words) >= 3 and words[-1].lower() in NAME_SUFFIXES:
        given, von_last = words[:-2], [words[-2]]
        while given and given[-1][:1].islower():
            von_last.insert(0, given.pop())
        return f"{text_to_latex(' '.join(von_last))}, {words[-1]}, {text_to_latex(' '.join(given))}"
    return text_to_latex(name)


def _verbatim(value: str) -> str:
    """A URL or DOI as written; braces are percent-encoded only if they do not balance."""
    return value if _balanced(value) else value.replace("{", "%7B").replace("}", "%7D")


def _extra_value(value: str) -> str:
    """bibtex_extra values are BibTeX kept verbatim; one whose braces do not balance is written as text."""
    value = re.sub(r"\s+", " ", value).strip()
    return text_to_latex(value) if not _balanced(value) else re.sub(r"[^\x00-\x7f]+", lambda m: text_to_latex(m.group()), value)


def _extra_problems(paper: Paper, written: Iterable[str]) -> list[tuple[str, str]]:
    """(key, why) for each bibtex_extra key that cannot be written: not a field name, or a field already written."""
    problems = []
    for key in paper.bibtex_extra:
        if not EXTRA_KEY.match(key):
            problems.append((key, "is not a BibTeX field name (lowercase letters, digits, '-' or '_'); rename it"))
        elif key in written or key == "crossref":
            problems.append((key, "repeats a field the entry writes from the paper's own fields; remove it from "
                             "bibtex_extra (or edit that field instead)"))
    return problems


def _own_fields(paper: Paper, kind: str) -> dict[str, str]:
    """The entry's fields that come from the paper's own catalog fields, in writing order."""
    fields = {"title": title_to_latex(paper.title)}
    if paper.authors:
        fields["author"] = " and ".join(name_to_bibtex(a) for a in paper.authors)
    if paper.year:
        fields["year"] = str(paper.year)
    if paper.month:
        fields["month"] = MONTHS[paper.month - 1]
    venue = _prefixed(kind, paper.venue or "")
    if venue:
        fields[VENUE_FIELD.get(kind, "howpublished")] = text_to_latex(venue)
    if paper.doi:
        fields["doi"] = _verbatim(paper.doi)
    if paper.arxiv:
        fields.update(eprint=paper.arxiv, archiveprefix="arXiv")
    if paper.url:
        fields["url"] = _verbatim(paper.url)
    return fields


def bibtex_extra_problems(paper: Paper) -> list[str]:
    """Why some bibtex_extra keys of a paper cannot be exported (for validation); empty when all can."""
    written = _own_fields(paper, entry_type(paper))
    return [f"bibtex_extra key {key!r} {why}" for key, why in _extra_problems(paper, written)]


def paper_to_entry(paper: Paper) -> Entry:
    """The paper's entry; bibtex_extra keys that cannot be written are left out (see bibtex_extra_problems)."""
    kind = entry_type(paper)
    fields = _own_fields(paper, kind)
    bad = {key for key, _ in _extra_problems(paper, fields)}
    fields.update((key, _extra_value(value)) for key, value in sorted(paper.bibtex_extra.items()) if key not in bad)
    return Entry(kind, paper.id, [Field(k, v, enclosing="no-enclosing" if k == "month" else None) for k, v in fields.items()])


def export_bibtex(papers: Iterable[Paper]) -> str:
    """Unresolved entries are left out: they name a work, not a citable record.

    A bibtex_extra key that cannot be written (it would add a second title, say) is named
    in a % line above its entry, which BibTeX skips: the export never fails and never lies.
    """
    library = bibtexparser.Library()
    for paper in sorted((p for p in papers if not p.unresolved), key=lambda p: p.id):
        for problem in bibtex_extra_problems(paper):
            safe = re.sub(r"[^\w .,:;'()=+-]", "?", f"{paper.id}: {problem}")  # no @, brace or newline
            library.add(ImplicitComment(f"% diffatlas: not written: {safe}"))
        library.add(paper_to_entry(paper))
    return bibtexparser.write_string(library)


# --- import: reading values the way BibTeX does ---------------------------------------------

class _Refusal(ValueError):
    """One field that cannot be read faithfully (caught per field, so every problem is reported)."""

    def __init__(self, field_name: str | None, message: str):
        super().__init__(message)
        self.field = field_name


def read_bib_bytes(data: bytes, source: str) -> str:
    """A .bib file's bytes as text: UTF-8 (a BOM is dropped) and at most MAX_BIB_BYTES, else BibtexError."""
    if len(data) > MAX_BIB_BYTES:
        raise BibtexError(f"{source}: the file is larger than {MAX_BIB_BYTES // 1_000_000} MB; split it into smaller files")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BibtexError(f"{source}:{line}: the file is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {source} > fixed.bib") from None


_BRACE = re.compile(r"(?<!\\)[{}]")
_SPACE = re.compile(r"\s*")
_WORD = re.compile(r"[^\s\"#%'(),={}]+")


def _closing(raw: str, start: int) -> int:
    """Index of the brace that closes raw[start] == '{' (escaped braces do not count, as in bibtexparser)."""
    depth = 0
    for match in _BRACE.finditer(raw, start):
        depth += 1 if match.group() == "{" else -1
        if depth == 0:
            return match.start()
    raise _Refusal(None, "a '{' is never closed; check the braces")


def _part(raw: str, i: int, macros: dict[str, str | None]) -> tuple[str, int]:
    """One operand of a value at raw[i]: {...}, "...", a number or a macro; (its text, index after it)."""
    if raw[i] == "{":
        end = _closing(raw, i)
        return raw[i + 1:end], end + 1
    if raw[i] == '"':
        depth, j = 0, i + 1
        while j < len(raw) and not (raw[j] == '"' and depth == 0):
            depth += (raw[j] == "{") - (raw[j] == "}")
            j += 1
        if j == len(raw):
            raise _Refusal(None, 'a \'"\' is never closed; check the quotes')
        return raw[i + 1:j], j + 1
    word = _WORD.match(raw, i)
    if not word:
        raise _Refusal(None, f"unexpected {raw[i:i + 20]!r}; put the value in braces")
    name = word.group()
    if name.isdigit():
        return name, i + len(name)
    if name.lower() in macros:
        if macros[name.lower()] is None:
            raise _Refusal(None, f"the @string {name!r} could not be read (its error is reported above)")
        return macros[name.lower()], i + len(name)
    if name.lower() in MONTHS:
        return MONTH_NAMES[MONTHS.index(name.lower())], i + len(name)
    raise _Refusal(None, f"{name!r} is not defined by a @string in this file; define it "
                   f"(@string{{{name} = {{...}}}}) or write the value in braces")


def evaluate(raw: str, macros: dict[str, str | None]) -> str:
    """A raw BibTeX value (`{a} # iclr # "b"`) as the text BibTeX reads, with @string macros resolved."""
    if len(raw) > MAX_FIELD_CHARS:
        raise _Refusal(None, f"the value is {len(raw)} characters long (the limit is {MAX_FIELD_CHARS}); shorten it")
    parts, i = [], 0
    while True:
        i = _SPACE.match(raw, i).end()
        if i >= len(raw):
            raise _Refusal(None, "a '#' is not followed by a value" if parts else "the value is empty")
        text, i = _part(raw, i, macros)
        parts.append(text)
        i = _SPACE.match(raw, i).end()
        if i >= len(raw):
            return "".join(parts)
        if raw[i] != "#":
            nxt = re.match(r"([A-Za-z][\w-]*)\s*=", raw[i:i + 80])
            if nxt:
                raise _Refusal(None, f"a comma is missing before '{nxt.group(1)}' (it was read as part of this value); "
                               "add the comma")
            raise _Refusal(None, f"unexpected {raw[i:i + 20]!r} after the value; put the whole value in braces")
        i += 1


# --- import: % comments and stray text, which bibtexparser reads wrongly ---------------------

_MARKS = re.compile(r"\\.|[{}\"%@()]", re.S)
_BLOCK = re.compile(r"@\s*(\w+)\s*([{(])")


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _at_line_start(text: str, index: int) -> bool:
    j = index - 1
    while j >= 0 and text[j] in " \t\r":
        j -= 1
    return j < 0 or text[j] == "\n"


def strip_comments(text: str, source: str) -> tuple[str, list[tuple[str, str]]]:
    """Blank out % comments between entries and between fields, as biber reads them (BibTeX has none).

    An entry commented out with % is refused instead, as (line, message): BibTeX ignores
    % outside entries and would still read it. A % inside a braced or quoted value is
    part of the value. One pass over the marks; positions and line numbers are kept.
    """
    out, problems = list(text), []
    depth, level, quoted, track_quotes, skip_to = 0, None, False, True, -1  # level: brace depth of the fields
    for match in _MARKS.finditer(text):
        i, mark = match.start(), match.group()
        if i < skip_to or len(mark) == 2:  # inside a blanked comment, or an escaped character
            continue
        if mark == "%" and (level is None or (depth == level and not quoted)):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            if level is None and _BLOCK.match(text[i + 1:end].lstrip()):
                problems.append((f"{source}:{_line(text, i)}", f"line {_line(text, i)} holds an entry commented out "
                                 "with %, which BibTeX does not treat as a comment (it reads the entry anyway); "
                                 "delete the commented lines or remove the %"))
            out[i:end] = " " * (end - i)
            skip_to = end
        elif mark == "@" and (level is None or _at_line_start(text, i)):
            block = _BLOCK.match(text, i)
            if block:  # a block start (inside an entry only at a line start, as bibtexparser recovers)
                depth = level = 0 if block.group(2) == "(" else 1
                quoted, track_quotes, skip_to = False, block.group(1).lower() != "comment", block.end()
        elif level is None:
            continue
        elif mark == '"' and track_quotes and depth == level:
            quoted = not quoted
        elif mark in "{}" and not quoted:
            depth += 1 if mark == "{" else -1
            level = None if depth < level else level  # the entry's closing brace (or a stray one)
        elif mark == ")" and level == 0 and depth == 0 and not quoted:
            level = None
    return "".join(out), problems


# --- import: blocks -> records --------------------------------------------------------------

@dataclass
class ParsedBib:
    records: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the entries (or lines) the errors are about, once each
    skipped: list[str] = field(default_factory=list)  # read but not papers: crossref parents

    _refused: set[str] = field(default_factory=set, repr=False)

    def refuse(self, label: str, message: str) -> None:
        self.errors.append(f"{label}: {message}")
        if label not in self._refused:
            self._refused.add(label)
            self.refused.append(label)

    def was_refused(self, label: str) -> bool:
        return label in self._refused


def _label(source: str, block) -> str:
    line = getattr(block, "start_line", None)
    where = f"{source}:{line + 1}" if isinstance(line, int) else source
    if isinstance(block, Entry):
        return f"{where} @{block.entry_type.lower()}{{{block.key}}}"
    head = re.match(r"\s*@\s*(\w+)\s*[{(]\s*([^,\s}]*)", getattr(block, "raw", "") or "")
    return f"{where} @{head.group(1).lower()}{{{head.group(2)}}}" if head else where


@contextmanager
def _quiet_splitter():
    """bibtexparser logs every broken block as a warning; here each becomes an error line instead."""
    logger = logging.getLogger("bibtexparser.splitter")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _split_blocks(library, source: str, out: ParsedBib) -> tuple[list[Entry], list[String]]:
    """Entries and @strings in file order; every block bibtexparser could not split becomes an error."""
    entries, strings, last_entry = [], [], None
    for block in library.blocks:
        if isinstance(block, DuplicateBlockKeyBlock):
            block = block.ignore_error_block  # a repeated key: judged below, case-insensitively as BibTeX does
        if isinstance(block, DuplicateFieldKeyBlock):
            for name in sorted(block.duplicate_keys):
                out.refuse(_label(source, block.ignore_error_block), f"field '{name}' appears twice; keep one")
        elif isinstance(block, ParsingFailedBlock):
            reason = getattr(block.error, "abort_reason", None) or str(block.error) or type(block.error).__name__
            out.refuse(_label(source, block), f"malformed BibTeX ({reason.strip()}); check the braces and commas of that entry")
        elif isinstance(block, Entry):
            entries.append(block)
            last_entry = block
        elif isinstance(block, String):
            strings.append(block)
        elif isinstance(block, ImplicitComment) and re.search(r"[}=]", block.comment):
            after = _label(source, last_entry) if last_entry is not None else f"{source}:{block.start_line + 1}"
            out.refuse(after, f"text after the entry ends ({block.comment[:40]!r}): an extra '}}' probably closed "
                       "the entry early, or a field sits outside any entry; check the braces")
    return entries, strings


def _macros(strings: list[String], source: str, out: ParsedBib) -> dict[str, str | None]:
    """@string definitions in file order (case-insensitive; a later one wins, as in BibTeX); None if unreadable."""
    macros: dict[str, str | None] = {}
    for block in strings:
        try:
            macros[block.key.lower()] = evaluate(block.value, macros)
        except _Refusal as exc:
            macros[block.key.lower()] = None
            out.refuse(f"{source}:{block.start_line + 1} @string{{{block.key}}}", str(exc))
    return macros


def _evaluated_fields(entry: Entry, macros: dict, label: str, out: ParsedBib) -> dict[str, str] | None:
    fields, ok = {}, True
    for f in entry.fields:
        try:
            fields[f.key.lower()] = evaluate(str(f.value), macros)
        except _Refusal as exc:
            out.refuse(label, f"field '{f.key}': {exc}")
            ok = False
    return fields if ok else None


def _with_parent(fields: dict, kind: str, parents: dict[str, dict | None]) -> dict:
    """BibTeX's crossref: the child takes every field it lacks from its parent (the parent's title as booktitle)."""
    ref = fields.pop("crossref").strip()
    if ref.lower() not in parents:
        raise _Refusal("crossref", f"names {ref!r}, which is not an entry in this file; "
                       "add that entry or copy its fields (booktitle, year) into this one")
    parent = parents[ref.lower()]
    if parent is None:
        raise _Refusal("crossref", f"its parent {ref!r} could not be read (see its error)")
    merged = {**{k: v for k, v in parent.items() if k not in ("title", "crossref")}, **fields}
    if "booktitle" not in merged and parent.get("title") and VENUE_FIELD.get(kind) == "booktitle":
        merged["booktitle"] = parent["title"]
    return merged


def _repeated_keys(entries: list[Entry], source: str, out: ParsedBib) -> set[str]:
    """Keys (lowercased) used by more than one entry, each refused once: BibTeX keys ignore case."""
    by_key: dict[str, list[Entry]] = {}
    for entry in entries:
        by_key.setdefault(entry.key.lower(), []).append(entry)
    repeated = {key for key, same in by_key.items() if len(same) > 1}
    for key in repeated:
        same = by_key[key]
        lines = " and ".join(str(e.start_line + 1) for e in same)
        out.refuse(_label(source, same[0]), f"entry key '{key}' is used by {len(same)} entries (lines {lines}); "
                   "BibTeX keeps only one: give each entry its own key")
    return repeated


def parse_bibtex(text: str, source: str = "<input>") -> ParsedBib:
    """Entries as catalog-shaped dicts; every entry that cannot be read faithfully is refused with its reasons."""
    out = ParsedBib()
    if len(text) > MAX_BIB_BYTES:
        out.refuse(source, f"more than {MAX_BIB_BYTES} characters of BibTeX; split it into smaller files")
        return out
    text, comment_problems = strip_comments(text, source)
    for label, message in comment_problems:
        out.refuse(label, message)
    with _quiet_splitter():
        library = bibtexparser.parse_string(text, parse_stack=[])  # raw values: macros are resolved by `evaluate`
    entries, strings = _split_blocks(library, source, out)
    macros = _macros(strings, source, out)
    repeated = _repeated_keys(entries, source, out)
    usable = [e for e in entries if e.key.lower() not in repeated and not out.was_refused(_label(source, e))]
    evaluated = {e.key.lower(): None for e in entries}  # refused entries stay None: a child says its parent failed
    evaluated.update((e.key.lower(), _evaluated_fields(e, macros, _label(source, e), out)) for e in usable)
    parents = {f["crossref"].strip().lower() for f in evaluated.values() if f and f.get("crossref")}
    for entry in usable:
        label, fields = _label(source, entry), evaluated[entry.key.lower()]
        if entry.key.lower() in parents:
            out.skipped.append(f"{label}: not imported: it is a crossref parent (a container such as proceedings), not a paper")
        elif fields is not None:
            record = _record(entry, fields, evaluated, label, out)
            if record is not None:
                out.records.append(record)
    return out


# --- import: one entry's fields -> the catalog's fields --------------------------------------

def _text(value: str, name: str) -> str:
    try:
        return latex_to_text(value)
    except LatexError as exc:
        raise _Refusal(name, str(exc)) from None


def _authors(raw: str) -> list[str]:
    names = []
    for name in split_multiple_persons_names(raw):
        if name.strip().lower() == "others":
            raise _Refusal("author", "the list ends with 'and others', so it is incomplete; the catalog records "
                           "complete author lists only: list every author, or delete the author field")
        try:
            parts = parse_single_name_into_parts(name, strict=True)
        except InvalidNameError as exc:
            raise _Refusal("author", f"cannot read the name {name.strip()!r} ({exc.reason}); "
                           "write 'First Last' or 'Last, First'") from None
        text = _text(" ".join(parts.first + parts.von + parts.last + parts.jr), "author")
        if not text:
            raise _Refusal("author", "an empty name between two 'and's; remove it")
        names.append(text)
    return names


def _month(value: str) -> int:
    word = value.strip().lower().rstrip(".")
    if word.isdigit() and 1 <= int(word) <= 12:
        return int(word)
    for number, (short, full) in enumerate(zip(MONTHS, MONTH_NAMES), start=1):
        if word in (short, full.lower()) or (len(word) >= 3 and full.lower().startswith(word)):
            return number
    raise _Refusal("month", f"{value.strip()!r} is not a month; write month = feb (jan ... dec) or a number 1-12")


def _year(value: str) -> int:
    if not re.fullmatch(r"\d{4}", value.strip()):
        raise _Refusal("year", f"{value.strip()!r} is not a four-digit year; write year = {{YYYY}}")
    return int(value)


def _unescape_link(value: str) -> str:
    """URL and DOI fields are verbatim, except the LaTeX escapes people put in them (\\_ for _)."""
    return re.sub(r"\\([_%&#~$])", r"\1", value.strip())


def _venue(kind: str, fields: dict) -> tuple[str | None, set[str]]:
    """(the catalog's venue, the fields it came from): the type's own field first, then the usual ones.

    A journal and a booktitle that disagree are refused: which one the paper appeared in is a guess.
    """
    named = {name: fields[name].strip() for name in ("journal", "booktitle") if fields.get(name, "").strip()}
    if len(set(named.values())) > 1:
        raise _Refusal("journal", f"journal {named['journal']!r} and booktitle {named['booktitle']!r} name two venues; "
                       "keep the one the paper appeared in")
    own = VENUE_FIELD.get(kind)
    for name in dict.fromkeys([own, "booktitle", "journal", "howpublished"]):
        if name and fields.get(name, "").strip():
            prefix = VENUE_PREFIX.get(kind, "") if name == own else ""
            return prefix + _text(fields[name], name), {name} | (set(named) if name in named else set())
    return None, set()


def _arxiv(fields: dict) -> str | None:
    if not fields.get("eprint") or fields.get("archiveprefix", "arXiv").strip().lower() != "arxiv":
        return None
    arxiv = re.sub(r"v\d+$", "", fields["eprint"].strip().removeprefix("arXiv:"))
    if not ARXIV_ID_RE.match(arxiv):
        raise _Refusal("eprint", f"{fields['eprint']!r} is not a new-style arXiv id such as 2010.02502; "
                       "fix it, or set archivePrefix to the archive it belongs to")
    return arxiv


_PREPRINT = re.compile(r"arXiv(?: preprint)?(?: arXiv:(\d{4}\.\d{4,5})(?:v\d+)?)?", re.I)


def _as_preprint(record: dict, venue: str | None, fields: dict) -> str | None:
    """Google Scholar's journal = {arXiv preprint arXiv:ID} is a preprint (venue arXiv, type by the venue table);
    howpublished = {\\url{...}} is a link, not a venue. Returns the venue left."""
    preprint = _PREPRINT.fullmatch(venue or "")
    if preprint:
        record["bibtex_type"] = None if record["bibtex_type"] == "article" else record["bibtex_type"]
        record.setdefault("arxiv", preprint.group(1))
        return "arXiv"
    if venue and re.match(r"https?://", venue) and not fields.get("url", "").strip():
        fields["url"] = venue
        return None
    return venue


def _record(entry: Entry, fields: dict, evaluated: dict, label: str, out: ParsedBib) -> dict | None:
    """The catalog fields of one entry, or None after refusing it (one error per problem)."""
    errors_before = len(out.errors)

    def read(name, reader, *args):
        try:
            return reader(*args)
        except _Refusal as exc:
            out.refuse(label, f"field '{exc.field or name}': {exc}")

    # 1. the entry type, as the BibTeX type a plain style knows
    kind = TYPE_ALIASES.get(entry.entry_type.lower(), entry.entry_type.lower())
    if kind not in BIBTEX_TYPES:
        out.refuse(label, f"entry type @{entry.entry_type} is not a BibTeX type; use one of {', '.join(sorted(BIBTEX_TYPES))}")
        return None
    # 2. crossref: the fields the entry takes from its parent
    fields = read("crossref", _with_parent, dict(fields), kind, evaluated) if "crossref" in fields else dict(fields)
    if fields is None:
        return None
    # 3. the catalog's fields, each read on its own so that every problem is reported
    record: dict = {"bibkey": entry.key, "bibtex_type": kind, "title": read("title", _text, fields.get("title", ""), "title")}
    if record["title"] == "":
        out.refuse(label, "field 'title' is missing or empty; add title = {...}")
    if "year" not in fields:
        out.refuse(label, "field 'year' is missing; add year = {YYYY}")
    record["year"] = read("year", _year, fields["year"]) if "year" in fields else None
    if fields.get("author", "").strip():
        record["authors"] = read("author", _authors, fields["author"])
    if fields.get("month", "").strip():
        record["month"] = read("month", _month, fields["month"])
    venue, used = read("venue", _venue, kind, fields) or (None, set())
    record["venue"] = _as_preprint(record, venue, fields)
    if fields.get("doi", "").strip():
        record["doi"] = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", _unescape_link(fields["doi"]), flags=re.I)
    record["arxiv"] = read("eprint", _arxiv, fields) or record.get("arxiv")
    if fields.get("url", "").strip():
        record["url"] = _unescape_link(fields["url"])
    if len(out.errors) > errors_before:
        return None
    # 4. every other field, kept verbatim
    consumed = {"title", "author", "year", "month", "doi", "url"} | used
    consumed |= {"eprint", "archiveprefix"} if record.get("arxiv") and fields.get("eprint") else set()
    record["bibtex_extra"] = {k: re.sub(r"\s+", " ", v).strip() for k, v in fields.items() if k not in consumed}
    return {k: v for k, v in record.items() if v not in (None, "", [], {})}
