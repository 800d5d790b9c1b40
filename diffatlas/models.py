"""Pydantic models of the catalog's two kinds of data: papers and taxonomy trees.

The models reject unknown fields so a typo in a YAML key is reported instead of
silently ignored, and they check every string for control characters and HTML
so catalog text can never smuggle markup into the app.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Annotated, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from .textnorm import ARXIV_ID_RE, is_safe_url

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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML = re.compile(r"<\s*/?\s*[a-zA-Z!?][^>]*>|<\s*[a-zA-Z]+[\s/>]|&#\d+;|&[a-z]+;", re.I)


def _clean_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("contains a control character; remove it")
    if _HTML.search(value):
        raise ValueError("contains HTML markup or an HTML entity; write plain text")
    return value


def _safe_url(value: str) -> str:
    if not is_safe_url(value):
        raise ValueError(f"{value!r} is not an absolute http(s) link; use https://...")
    return value


Text = Annotated[str, AfterValidator(_clean_text)]
NonEmptyText = Annotated[str, Field(min_length=1), AfterValidator(_clean_text)]
Url = Annotated[str, AfterValidator(_safe_url)]


def BoundedText(min_length: int, max_length: int):  # noqa: N802 (a type, used like NonEmptyText)
    """Plain text of a bounded length, checked like every other catalog string."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_clean_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Listing(_Strict):
    """Where a survey files the paper, in that survey's own words."""

    survey: Literal[PROVENANCE_SOURCES]  # type: ignore[valid-type]
    section: NonEmptyText
    ref: Optional[Text] = Field(None, description="citation number or entry name in the survey")
    name: Optional[Text] = Field(None, description="the model name the survey uses")
    title: Optional[Text] = Field(None, description="the title as the survey spells it, when it differs")
    venue: Optional[Text] = Field(None, description="the venue badge as the survey gives it")
    year: Optional[Union[int, str]] = None
    url: Optional[Text] = Field(None, description="the link as the survey gives it (may be broken)")
    note: Optional[Text] = Field(None, description="the survey's own one-line description, e.g. a table's strategy column")
    supports: list[Literal["training", "inference"]] = Field(
        [], description="what a framework table marks the entry as supporting (Shen et al.'s Training / Inference columns)")


class Reported(_Strict):
    """A figure a source reports for the paper's method, as that source states it."""

    metric: NonEmptyText
    value: Union[float, int, str]
    unit: Optional[Text] = None
    dataset: Optional[Text] = None
    steps: Optional[Union[int, str]] = Field(None, description="sampling steps or NFE the figure is measured at")
    baseline: Optional[Text] = Field(None, description="what the paper compares it with, e.g. 'DDIM, 10 steps: FID 13.4'")
    speedup: Optional[Union[float, int]] = Field(None, gt=0, description="speed-up over the baseline as the paper states it (x)")
    hardware: Optional[Text] = None
    source: NonEmptyText = Field(description="who reports it: 'paper' (the paper itself) or a survey, e.g. 'ulhaq2022 Table III'")
    where: Optional[Text] = Field(None, description="where in that source: 'abstract', 'Table 2', 'Section 5.1'")
    note: Optional[Text] = None


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


class Paper(_Strict):
    id: Annotated[str, Field(pattern=ID_PATTERN, max_length=80)]
    title: NonEmptyText
    name: Optional[BoundedText(1, 60)] = Field(
        None, description="the method's own short name (DDIM, DPM-Solver++, DeepCache); unique within a year")
    year: Optional[Annotated[int, Field(ge=1900, le=MAX_YEAR)]] = None
    month: Optional[Annotated[int, Field(ge=1, le=12)]] = None
    authors: list[NonEmptyText] = []
    venue: Optional[Text] = None
    arxiv: Optional[str] = None
    doi: Optional[Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")]] = None
    url: Optional[Url] = None
    code: Optional[Url] = None
    kind: Literal[KINDS] = "paper"  # type: ignore[valid-type]
    unresolved: bool = False
    summary: Annotated[str, Field(min_length=20), AfterValidator(_clean_text)]
    keywords: list[NonEmptyText] = []
    tags: dict[str, list[NonEmptyText]] = {}
    outside: dict[Literal[SURVEYS], BoundedText(20, 300)] = Field(  # type: ignore[valid-type]
        {}, description="a main tree in which the paper fits no node, with a one-line reason (instead of tags)")
    listed_in: list[Listing] = []
    reported: list[Reported] = []
    no_reported: Optional[BoundedText(20, 300)] = Field(
        None, description="why no figure is recorded although the paper was read for one (e.g. a theory paper)")
    runs_here: Optional[RunsHere] = Field(
        None, description="whether it installs and runs on the project's machine, checked by trying")
    notes: list[NonEmptyText] = []
    bibtex_type: Optional[Annotated[str, Field(pattern=r"^[a-z]+$")]] = None
    bibtex_extra: dict[str, Text] = Field(
        default_factory=dict, description="other BibTeX fields kept verbatim for round-trips"
    )

    @field_validator("arxiv")
    @classmethod
    def _arxiv(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not ARXIV_ID_RE.match(str(value)):
            raise ValueError(f"{value!r} is not a new-style arXiv id such as 2010.02502 (write it as a quoted string)")
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
    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")]
    name: NonEmptyText
    description: NonEmptyText
    demo: Optional[Annotated[str, Field(pattern=DEMO_ID_PATTERN)]] = Field(
        None, description="id of the reference implementation that demonstrates this node"
    )
    no_demo: Optional[NonEmptyText] = Field(None, description="why no demo can run on a small machine")
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
    survey: NonEmptyText = Field(description="catalog id of the survey paper")
    description: NonEmptyText
    nodes: list[Node]

    def walk(self):
        for node in self.nodes:
            yield from node.walk()

    def index(self) -> dict[str, Node]:
        return {node.id: node for node, _ in self.walk()}
