"""Pydantic models of the catalog's two kinds of data: papers and taxonomy trees.

The models reject unknown fields so a typo in a YAML key is reported instead of
silently ignored, and they check every string for control characters, characters
that hide or reorder text, and HTML, so catalog text can never smuggle markup into
the app. Every string has a size limit (see "Size limits" below) and every check is
linear in the length of the text, so no file can make validation slow.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Annotated, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .problems import kind_of
from .textnorm import ARXIV_ID_RE, describe_char, hidden_character, survey_link_problem, url_problem

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
SURVEYS = ("ulhaq2022", "shen2025", "ma2024")
PROVENANCE_SOURCES = SURVEYS + ("contributed",)
KINDS = ("paper", "framework", "survey", "background")
RUNS_HERE_WORDS = {  # runs_here.status -> how a page says it
    "runs": "runs here",
    "partial": "partly runs here",
    "cannot_run": "cannot run here",
    "not_applicable": "does not apply here",
}
RUNS_HERE_STATUSES = tuple(RUNS_HERE_WORDS)
DEMO_ID_PATTERN = r"^[a-z0-9_.-]+$"
MAX_YEAR = _dt.date.today().year  # a year in the future is a typo

# -- Size limits, in characters ------------------------------------------------------------------------
# Each is several times the longest value in the committed catalog (measured when they were set:
# a title 151, a summary 395, a note 307, a survey's note 42, a node description 143, a link 431,
# a survey's link 583), so a real entry never meets one, while a hostile file cannot make a check
# or a page slow. RunsHere keeps its own, tighter limits.
MAX_SHORT = 500  # a one-line value: an author, a venue, a keyword, a section, a metric, a tag
MAX_TITLE = 500
MAX_SUMMARY = 3_000
MAX_NOTE = 1_000  # one note, a survey's description of the paper, a node's or tree's description
MAX_URL = 2_000  # the longest link every browser and search engine handles (2,048)
MAX_BIBTEX_VALUE = 4_000  # a BibTeX abstract: arXiv caps one at 1,920 characters, journals run a little longer
MAX_ID = 80

# -- Text -------------------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# HTML is refused in three shapes: (1) a tag start, '<' then a letter, '!' or '?' (after optional
# spaces and '/'), with a '>' anywhere after it; (2) '<' then letters then a space, '/' or '>';
# (3) a character entity. Shape (1) is a search for the first tag start plus a search for '>' after
# it: the old single regex, `<\s*/?\s*[a-zA-Z!?][^>]*>`, restarted its `[^>]*` at every '<' and took
# seconds on 100 KB of '<x'. Each pattern here is linear: no two repeats can match the same text.
_TAG_START = re.compile(r"<\s*(?:/\s*)?[a-zA-Z!?]", re.I)
_TAG_OPEN = re.compile(r"<\s*[a-zA-Z]+[\s/>]", re.I)
_ENTITY = re.compile(r"&#\d+;|&#x[0-9a-f]+;|&[a-z]+;", re.I)


def refuse(kind: str, message: str, hint: str = "") -> PydanticCustomError:
    """A validation error naming what is wrong; the fix goes to Problem.hint (given, or the
    clause after the last '; ' of the message)."""
    if not hint and "; " in message:
        message, hint = message.rsplit("; ", 1)
    return PydanticCustomError(kind, "{message}", {"message": message, "hint": hint})


def has_markup(value: str) -> bool:
    """True if the text holds an HTML tag or character entity (in time linear in its length)."""
    start = _TAG_START.search(value)
    if start and value.find(">", start.end()) >= 0:
        return True
    return bool(_TAG_OPEN.search(value) or _ENTITY.search(value))


def _clean_text(value: str) -> str:
    if _CONTROL.search(value):
        raise refuse("control_character", "contains a control character; remove it")
    hidden = hidden_character(value)
    if hidden:
        position, char, kind = hidden
        raise refuse("hidden_character", f"contains {describe_char(char)} at character {position}, {kind}",
                     f"delete it (retype the text around character {position} if you cannot see it)")
    if has_markup(value):
        raise refuse("html_markup", "contains HTML markup or an HTML entity; write plain text")
    return value


def _shown(value: str, limit: int = 80) -> str:
    """A value quoted in an error message, shortened: the message must stay readable."""
    return repr(value if len(value) <= limit else value[: limit - 1] + "\u2026")


def _safe_url(value: str) -> str:
    problem = url_problem(value)
    if problem:
        raise refuse("unsafe_url", f"the link {_shown(value)} {problem}")
    return value


def _survey_link(value: str) -> str:
    problem = survey_link_problem(value)
    if problem:
        raise refuse("unsafe_url", f"the survey's link {_shown(value)} {problem}")
    return _clean_text(value)


def BoundedText(min_length: int, max_length: int):  # noqa: N802 (a type, used like NonEmptyText)
    """Plain text of a bounded length, checked like every other catalog string."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_clean_text)]


Text = BoundedText(0, MAX_SHORT)
NonEmptyText = BoundedText(1, MAX_SHORT)
Note = BoundedText(1, MAX_NOTE)
Url = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_safe_url)]
SurveyLink = Annotated[str, Field(max_length=MAX_URL), AfterValidator(_survey_link)]


# -- Numbers, or a short text where a source gives one ('10-50', 'NA') -------------------------------------
def _checked_text(value: str) -> str:
    """A short text given where a number may also stand: stripped, bounded, clean."""
    value = value.strip()
    if not value:
        raise refuse("string_too_short", "is empty; write a value or delete the line")
    if len(value) > MAX_SHORT:
        raise refuse("string_too_long", f"String should have at most {MAX_SHORT} characters (it has {len(value)})",
                     "shorten it to the limit in the message")
    return _clean_text(value)


def _scalar(value: object, *, what: str, example: str, text: bool, whole: bool) -> object:
    """A finite number (whole if `whole`), or, if `text`, a short text. Anything else is refused once,
    saying what was read, where a Union would give one error per member type."""
    if isinstance(value, str) and text:
        return _checked_text(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not float(value).is_integer()):
        raise refuse("scalar_type", f"expected {what}, got {kind_of(value)}", f"write {example}")
    if isinstance(value, float) and not math.isfinite(value):
        raise refuse("finite_number", f"expected a finite number, got {value}",
                     "write the figure the source gives: NaN and infinity are not figures")
    return int(value) if whole else value


def _scalar_type(python_type, *, what: str, example: str, text: bool = True, whole: bool = False):
    def check(value):
        return _scalar(value, what=what, example=example, text=text, whole=whole)

    return Annotated[python_type, PlainValidator(check, json_schema_input_type=python_type)]


Figure = _scalar_type(Union[float, int, str], what="a number or text",
                      example="a number (2.5) or a short text in quotes ('10-50')")
Count = _scalar_type(Union[int, str], what="a whole number or text",
                     example="a whole number (10) or a short text in quotes ('NA')", whole=True)
Positive = _scalar_type(Union[float, int], what="a number", example="a number such as 2.5", text=False)


# -- BibTeX field names ------------------------------------------------------------------------------------
BIBTEX_KEY = re.compile(r"[a-z][a-z0-9_-]*")
# BibTeX fields the catalog writes from its own fields: in bibtex_extra they would add a second
# title, author list, ... to the exported entry. Key -> the catalog field to use instead.
BIBTEX_OWN_FIELDS = {"title": "title", "author": "authors", "year": "year", "month": "month", "doi": "doi",
                     "url": "url", "journal": "venue", "booktitle": "venue"}
BIBTEX_ARXIV_FIELDS = ("eprint", "archiveprefix")  # written from `arxiv` when the paper has one


def _bibtex_key(key: str, info: ValidationInfo) -> str:
    lower = key.strip().lower()
    own = BIBTEX_OWN_FIELDS.get(lower) or ("arxiv" if lower in BIBTEX_ARXIV_FIELDS and info.data.get("arxiv") else None)
    if own:
        raise refuse("bibtex_key", f"key {_shown(key, 40)} is the BibTeX field the catalog writes from its own "
                     f"field '{own}': kept here it would be a second one", f"write it as '{own}:' and delete this key")
    if len(key) > 40:
        raise refuse("bibtex_key", f"key {_shown(key, 40)} is longer than 40 characters, too long for a "
                     "BibTeX field name", "use the field's BibTeX name")
    if not BIBTEX_KEY.fullmatch(key):
        hint = (f"write it in lower case: '{lower}'" if BIBTEX_KEY.fullmatch(lower) else
                "a BibTeX field name is lower-case letters, digits, '-' and '_', starting with a letter (e.g. 'note')")
        raise refuse("bibtex_key", f"key {_shown(key, 40)} is not a BibTeX field name", hint)
    return key


BibtexKey = Annotated[str, AfterValidator(_bibtex_key)]
TagKey = Annotated[str, Field(max_length=60)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Listing(_Strict):
    """Where a survey files the paper, in that survey's own words."""

    survey: Literal[PROVENANCE_SOURCES]  # type: ignore[valid-type]
    section: NonEmptyText
    ref: Optional[Text] = Field(None, description="citation number or entry name in the survey")
    name: Optional[Text] = Field(None, description="the model name the survey uses")
    title: Optional[BoundedText(0, MAX_TITLE)] = Field(
        None, description="the title as the survey spells it, when it differs")
    venue: Optional[Text] = Field(None, description="the venue badge as the survey gives it")
    year: Optional[Count] = None
    url: Optional[SurveyLink] = Field(
        None, description="the link as the survey gives it (may be broken, never a javascript:/data: link)")
    note: Optional[Note] = Field(None, description="the survey's own one-line description, e.g. a table's strategy column")
    supports: list[Literal["training", "inference"]] = Field(
        [], description="what a framework table marks the entry as supporting (Shen et al.'s Training / Inference columns)")


class Reported(_Strict):
    """A figure a source reports for the paper's method, as that source states it."""

    metric: NonEmptyText
    value: Figure
    unit: Optional[Text] = None
    dataset: Optional[Text] = None
    steps: Optional[Count] = Field(None, description="sampling steps or NFE the figure is measured at")
    baseline: Optional[Text] = Field(None, description="what the paper compares it with, e.g. 'DDIM, 10 steps: FID 13.4'")
    speedup: Optional[Positive] = Field(None, description="speed-up over the baseline as the paper states it (x)")
    hardware: Optional[Text] = None
    source: NonEmptyText = Field(description="who reports it: 'paper' (the paper itself) or a survey, e.g. 'ulhaq2022 Table III'")
    where: Optional[Text] = Field(None, description="where in that source: 'abstract', 'Table 2', 'Section 5.1'")
    note: Optional[Note] = None

    @field_validator("speedup")
    @classmethod
    def _positive(cls, value):
        if value is not None and value <= 0:
            raise refuse("greater_than", f"a speed-up must be greater than 0, got {value}",
                         "write the factor the paper gives, e.g. 2.5 for 2.5x")
        return value


class RunsHere(_Strict):
    """Whether a framework (or a paper's code) runs on the project's machine, found by trying it.

    `instead` names the reference implementation that measures the same idea
    here; the catalog loader checks that some taxonomy node names it as its `demo:`.
    """

    checked: _dt.date = Field(description="the day it was tried, YYYY-MM-DD")
    machine: BoundedText(1, 200) = Field(
        description="what 'here' was: Python, torch build, CPU/GPU")
    status: Literal[RUNS_HERE_STATUSES]  # type: ignore[valid-type]
    tried: BoundedText(1, 300) = Field(
        description="what was tried: package, version, command")
    outcome: BoundedText(1, 500) = Field(
        description="what happened: the short error or the result")
    instead: Optional[Annotated[str, Field(pattern=DEMO_ID_PATTERN, max_length=60)]] = Field(
        None, description="id of the demo that measures the idea in its place (null: none does)")
    reason: BoundedText(20, 600) = Field(
        description="why it cannot run here and why the demo stands in for it")

    @field_validator("checked")
    @classmethod
    def _not_in_future(cls, value: _dt.date) -> _dt.date:
        if value > _dt.date.today():
            raise ValueError(f"{value.isoformat()} is in the future; write the day it was tried")
        return value


def _arxiv_number_problem(value: float) -> tuple[str, str]:
    """(message, fix) for an arXiv id YAML read as a number: 2010.02502 unquoted is a float, and a
    float keeps no leading or trailing zeros (0704.0010 reads as 704.001)."""
    yymm, _, digits = repr(value).partition(".")
    width = 5 if yymm.zfill(4) >= "1501" else 4  # ids have five digits after the dot from 2015 on
    fits = yymm.isdigit() and len(yymm) <= 4 and 0 < len(digits) <= width
    guess = f"{yymm.zfill(4)}.{digits.ljust(width, '0')}" if fits else "2010.02502"
    if digits and guess == f"{yymm}.{digits}":
        return f"{guess} was read as a number, not as text", f"quote it: arxiv: '{guess}'"
    return (f"the id was read as the number {value!r}, and a number loses leading and trailing zeros "
            f"(2010.0250 reads as 2010.025)", f"quote it, copying the id from its arXiv page, e.g. arxiv: '{guess}'")


class Paper(_Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN, max_length=MAX_ID)]
    title: BoundedText(1, MAX_TITLE)
    name: Optional[BoundedText(1, 60)] = Field(
        None, description="the method's own short name (DDIM, DPM-Solver++, DeepCache); unique within a year")
    year: Optional[Annotated[int, Field(ge=1900, le=MAX_YEAR)]] = None
    month: Optional[Annotated[int, Field(ge=1, le=12)]] = None
    authors: list[NonEmptyText] = []
    venue: Optional[Text] = None
    arxiv: Optional[str] = None
    doi: Optional[Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$", max_length=300), AfterValidator(_clean_text)]] = None
    url: Optional[Url] = None
    code: Optional[Url] = None
    kind: Literal[KINDS] = "paper"  # type: ignore[valid-type]
    unresolved: bool = False
    summary: BoundedText(20, MAX_SUMMARY)
    keywords: list[NonEmptyText] = []
    tags: dict[TagKey, list[NonEmptyText]] = {}
    outside: dict[Literal[SURVEYS], BoundedText(20, 300)] = Field(  # type: ignore[valid-type]
        {}, description="a main tree in which the paper fits no node, with a one-line reason (instead of tags)")
    listed_in: list[Listing] = []
    reported: list[Reported] = []
    no_reported: Optional[BoundedText(20, 300)] = Field(
        None, description="why no figure is recorded although the paper was read for one (e.g. a theory paper)")
    runs_here: Optional[RunsHere] = Field(
        None, description="whether it installs and runs on the project's machine, checked by trying")
    notes: list[Note] = []
    bibtex_type: Optional[Annotated[str, Field(pattern=r"^[a-z]+$", max_length=40)]] = None
    bibtex_extra: dict[BibtexKey, BoundedText(0, MAX_BIBTEX_VALUE)] = Field(
        default_factory=dict, description="other BibTeX fields kept verbatim for round-trips"
    )

    @field_validator("arxiv", mode="before")
    @classmethod
    def _arxiv_not_a_number(cls, value: object) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise refuse("arxiv_number", *_arxiv_number_problem(value))
        return value

    @field_validator("arxiv")
    @classmethod
    def _arxiv(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not (value.isascii() and ARXIV_ID_RE.match(value)):
            raise refuse("arxiv_id", f"{_shown(value, 40)} is not a new-style arXiv id such as 2010.02502",
                         "write the id as arXiv shows it, in quotes: arxiv: '2010.02502'")
        return value

    @model_validator(mode="after")
    def _url_unless_unresolved(self) -> "Paper":
        if not self.unresolved:
            if self.url is None:
                raise ValueError("url is required unless the entry is marked 'unresolved: true'")
            if self.year is None:
                raise ValueError("year is required unless the entry is marked 'unresolved: true'")
        return self

    @model_validator(mode="after")
    def _outside_or_placed(self) -> "Paper":
        for tid in self.outside:
            if self.tags.get(tid):
                raise ValueError(f"the paper is both placed in {tid} (tags.{tid}) and marked outside it "
                                 f"(outside.{tid}); keep one")
        return self

    def missing_citation_fields(self) -> list[str]:
        """Fields a citation of this research paper needs and the entry lacks."""
        if self.kind != "paper":
            return []
        return [name for name, value in (("authors", self.authors), ("year", self.year), ("venue", self.venue)) if not value]

    @property
    def label(self) -> str:
        """The method name when the paper has one, else the title."""
        return self.name or self.title

    @property
    def is_background(self) -> bool:
        return self.kind == "background"

    def surveys(self) -> list[str]:
        return sorted({item.survey for item in self.listed_in if item.survey in SURVEYS})


class Node(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=200)]
    name: NonEmptyText
    description: Note
    demo: Optional[Annotated[str, Field(pattern=DEMO_ID_PATTERN, max_length=60)]] = Field(
        None, description="id of the reference implementation that demonstrates this node"
    )
    no_demo: Optional[Note] = Field(None, description="why no demo can run on a small machine")
    children: list["Node"] = []

    @model_validator(mode="after")
    def _children_extend_parent(self) -> "Node":
        for child in self.children:
            if not child.id.startswith(self.id + "."):
                raise ValueError(f"child id {child.id!r} must start with {self.id + '.'!r}")
        return self

    def walk(self, depth: int = 0):
        yield self, depth
        for child in self.children:
            yield from child.walk(depth + 1)

    @property
    def is_leaf(self) -> bool:
        return not self.children


class Keyword(_Strict):
    """One term of the catalog's controlled keyword vocabulary (catalog/keywords.yaml)."""

    term: Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9 +./-]*[a-z0-9+]$")]
    description: BoundedText(10, 200)


class KeywordList(_Strict):
    keywords: list[Keyword]

    @model_validator(mode="after")
    def _unique(self) -> "KeywordList":
        terms = [k.term for k in self.keywords]
        twice = sorted({t for t in terms if terms.count(t) > 1})
        if twice:
            raise ValueError(f"term(s) listed twice: {', '.join(twice)}")
        return self


class Taxonomy(_Strict):
    id: Literal[SURVEYS]  # type: ignore[valid-type]
    name: NonEmptyText
    survey: BoundedText(1, MAX_ID) = Field(description="catalog id of the survey paper")
    description: Note
    nodes: list[Node]

    def walk(self):
        for node in self.nodes:
            yield from node.walk()

    def index(self) -> dict[str, Node]:
        return {node.id: node for node, _ in self.walk()}
