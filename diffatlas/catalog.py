"""Load and validate the whole catalog once, then answer lookups.

`load_catalog` never raises on bad data: it returns a `Catalog` holding every
valid paper plus a list of every problem found, so the CLI can print them all at
once and the app can show the valid part next to the errors.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from .models import SURVEYS, KeywordList, Paper, Taxonomy
from .paths import default_catalog_dir, default_taxonomy_dir, papers_dir
from .problems import Problem, from_validation_error
from .textnorm import normalize_title
from .yamlio import YamlError, load_yaml, load_yaml_text

MAIN_TREES = ("ulhaq2022", "shen2025")


@dataclass
class Catalog:
    papers: dict[str, Paper]
    taxonomies: dict[str, Taxonomy]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # worth fixing, not blocking (e.g. no authors)
    files: dict[str, Path] = field(default_factory=dict)
    fingerprint: str = ""
    keywords: dict[str, str] = field(default_factory=dict)  # controlled vocabulary: term -> description

    # -- lookups -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.papers)

    def get(self, paper_id: str) -> Paper | None:
        return self.papers.get(paper_id)

    def node(self, taxonomy: str, node_id: str):
        return self.node_index.get(taxonomy, {}).get(node_id)

    @cached_property
    def node_index(self) -> dict[str, dict]:
        return {tid: tax.index() for tid, tax in self.taxonomies.items()}

    def by_node(self, taxonomy: str, node_id: str, descendants: bool = True) -> list[Paper]:
        """Papers tagged at a node (and, by default, anywhere below it)."""
        prefix = node_id + "."
        return [
            p for p in self.papers.values()
            if any(t == node_id or (descendants and t.startswith(prefix)) for t in p.tags.get(taxonomy, []))
        ]

    def by_survey(self, survey: str) -> list[Paper]:
        return [p for p in self.papers.values() if survey in p.surveys()]

    def subtree_ids(self, taxonomy: str, node_id: str) -> list[str]:
        node = self.node(taxonomy, node_id)
        return [n.id for n, _ in node.walk()] if node else []

    # -- tables for the app ------------------------------------------------
    def dataframe(self):
        """One row per paper, list fields kept as lists, tag columns per taxonomy."""
        import pandas as pd

        rows = []
        for p in self.papers.values():
            row = {
                "id": p.id, "title": p.title, "year": p.year, "venue": p.venue or "",
                "kind": p.kind, "url": p.url, "code": p.code, "arxiv": p.arxiv,
                "authors": list(p.authors), "summary": p.summary, "keywords": list(p.keywords),
                "surveys": p.surveys(), "unresolved": p.unresolved, "has_code": bool(p.code),
            }
            for tid in self.taxonomies:
                row[f"tags_{tid}"] = list(p.tags.get(tid, []))
                row[f"top_{tid}"] = sorted({t.split(".")[0] for t in p.tags.get(tid, [])})
            rows.append(row)
        frame = pd.DataFrame(rows)
        if not frame.empty:
            frame = frame.sort_values(["year", "title"], ascending=[False, True]).reset_index(drop=True)
        return frame


def load_taxonomies(taxonomy_dir: Path | None = None) -> tuple[dict[str, Taxonomy], list[Problem]]:
    taxonomy_dir = Path(taxonomy_dir or default_taxonomy_dir())
    taxonomies: dict[str, Taxonomy] = {}
    problems: list[Problem] = []
    for path in sorted(taxonomy_dir.glob("*.yaml")):
        try:
            data = load_yaml(path)
            tax = Taxonomy.model_validate(data)
        except YamlError as exc:
            problems.append(Problem(str(path), None, f"malformed YAML: {exc}", "fix the syntax at that line", exc.line))
            continue
        except ValidationError as exc:
            problems.extend(from_validation_error(path, exc))
            continue
        if tax.id != path.stem:
            problems.append(Problem(str(path), "id", f"taxonomy id {tax.id!r} does not match the file name", f"rename the file to {tax.id}.yaml"))
        ids = [n.id for n, _ in tax.walk()]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(Problem(str(path), "nodes", f"node id {dup!r} appears twice", "give each node a unique id"))
        taxonomies[tax.id] = tax
    for missing in sorted(set(SURVEYS) - set(taxonomies)):
        problems.append(Problem(str(taxonomy_dir), None, f"taxonomy {missing!r} not found", f"add {missing}.yaml"))
    return taxonomies, problems


def _check_tags(paper: Paper, file: str, taxonomies: dict[str, Taxonomy]) -> list[Problem]:
    problems = []
    for tid, node_ids in paper.tags.items():
        if tid not in taxonomies:
            problems.append(Problem(file, f"tags.{tid}", f"unknown taxonomy {tid!r}", f"use one of {', '.join(sorted(taxonomies))}"))
            continue
        index = taxonomies[tid].index()
        for node_id in node_ids:
            if node_id not in index:
                close = difflib.get_close_matches(node_id, list(index), n=3, cutoff=0.4)
                hint = f"did you mean {', '.join(close)}?" if close else f"run 'diffatlas stats --nodes {tid}' for the node ids"
                problems.append(Problem(file, f"tags.{tid}", f"unknown taxonomy node {node_id!r}", hint))
    if paper.kind in ("paper", "framework"):
        for tid in MAIN_TREES:
            if tid in taxonomies and not paper.tags.get(tid) and tid not in paper.outside:
                problems.append(Problem(
                    file, f"tags.{tid}", f"a {paper.kind} must be placed in the {tid} tree or marked outside it",
                    f"add at least one {tid} node id, or 'outside: {{{tid}: <one-line reason>}}' when no node fits"))
    for tid in paper.outside:
        if tid not in MAIN_TREES:
            problems.append(Problem(file, f"outside.{tid}", f"'outside' applies to the main trees only, not {tid}",
                                    f"use one of {', '.join(MAIN_TREES)}, or leave {tid} untagged"))
    return problems


def _check_names(papers: dict[str, Paper], files: dict[str, Path]) -> list[Problem]:
    """A method name must pick out one paper within its year."""
    problems, seen = [], {}
    for pid in sorted(papers):
        paper = papers[pid]
        if not paper.name:
            continue
        key = (paper.name.casefold(), paper.year)
        if key in seen:
            problems.append(Problem(str(files[pid]), "name", f"method name {paper.name!r} ({paper.year}) is already "
                                    f"the name of {seen[key]}", "make the name specific (e.g. add the variant) or drop it"))
        else:
            seen[key] = pid
    return problems


def citation_warnings(paper: Paper, file: str) -> list[Problem]:
    return [Problem(file, name, f"a research paper with no {name}: its BibTeX citation will be incomplete",
                    f"add the {name} from the paper itself (a blank is better than a guess)", severity="warning")
            for name in paper.missing_citation_fields()]


KEYWORDS_FILE = "keywords.yaml"


def load_keywords(catalog_dir: Path) -> tuple[dict[str, str], list[Problem]]:
    """The controlled vocabulary in <catalog>/keywords.yaml; absent file: no vocabulary, no check."""
    path = Path(catalog_dir) / KEYWORDS_FILE
    if not path.is_file():
        return {}, []
    try:
        data = KeywordList.model_validate(load_yaml(path))
    except YamlError as exc:
        return {}, [Problem(str(path), None, f"malformed YAML: {exc}", "fix the syntax at that line", exc.line)]
    except ValidationError as exc:
        return {}, from_validation_error(path, exc)
    return {k.term: k.description for k in data.keywords}, []


def _check_keywords(paper: Paper, file: str, vocabulary: dict[str, str]) -> list[Problem]:
    problems = []
    for i, word in enumerate(paper.keywords):
        if word not in vocabulary:
            close = difflib.get_close_matches(word.lower(), list(vocabulary), n=3, cutoff=0.5)
            hint = (f"did you mean {', '.join(close)}?" if close else
                    f"use a term of catalog/{KEYWORDS_FILE} (or propose a new term there)")
            problems.append(Problem(file, f"keywords[{i}]", f"{word!r} is not in the keyword vocabulary", hint))
    if len(set(paper.keywords)) != len(paper.keywords):
        problems.append(Problem(file, "keywords", "a keyword is listed twice", "list each keyword once"))
    return problems


def demo_ids(taxonomies: dict[str, Taxonomy]) -> set[str]:
    """Every demo id some taxonomy node names as its `demo:`."""
    return {node.demo for tax in taxonomies.values() for node, _ in tax.walk() if node.demo}


def _check_runs_here(paper: Paper, file: str, known_demos: set[str]) -> list[Problem]:
    """`runs_here.instead` must name a demo that a taxonomy node links to."""
    check = paper.runs_here
    if check is None or check.instead is None or check.instead in known_demos:
        return []
    close = difflib.get_close_matches(check.instead, sorted(known_demos), n=3, cutoff=0.5)
    hint = (f"did you mean {', '.join(close)}?" if close else
            f"use a demo id that a taxonomy node names as its demo: ({', '.join(sorted(known_demos)) or 'none yet'}), "
            "or null when no demo measures it")
    return [Problem(file, "runs_here.instead", f"no taxonomy node names the demo {check.instead!r}", hint)]


def _check_duplicates(papers: dict[str, Paper], files: dict[str, Path]) -> list[Problem]:
    problems = []
    keys = (
        ("title", lambda p: normalize_title(p.title) if len(normalize_title(p.title)) > 8 else None),
        ("arxiv", lambda p: p.arxiv),
        ("doi", lambda p: p.doi.lower() if p.doi else None),
    )
    for field_name, key in keys:
        seen: dict[str, str] = {}
        for pid in sorted(papers):
            value = key(papers[pid])
            if not value:
                continue
            if value in seen:
                first = seen[value]
                problems.append(Problem(
                    str(files[pid]), field_name,
                    f"duplicate paper: same {field_name} as {files[first]}",
                    f"merge the two entries into {first}.yaml and delete this file",
                ))
            else:
                seen[value] = pid
    return problems


def load_catalog(catalog_dir: Path | None = None, taxonomy_dir: Path | None = None) -> Catalog:
    catalog_dir = Path(catalog_dir or default_catalog_dir())
    taxonomies, problems = load_taxonomies(taxonomy_dir)
    folder = papers_dir(catalog_dir)
    papers: dict[str, Paper] = {}
    files: dict[str, Path] = {}
    digest = hashlib.sha256()
    known_demos = demo_ids(taxonomies)
    warnings: list[Problem] = []
    vocabulary, keyword_problems = load_keywords(catalog_dir)
    problems.extend(keyword_problems)
    if not folder.is_dir():
        problems.append(Problem(str(catalog_dir), None, "catalog folder not found", "pass --catalog DIR pointing at a folder with papers/"))
    paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")) if folder.is_dir() else []
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        digest.update(path.name.encode() + b"\0" + text.encode())
        paper = _load_paper(path, text, problems)
        if paper is None:
            continue
        if paper.id in papers:
            problems.append(Problem(str(path), "id", f"id {paper.id!r} already used by {files[paper.id]}", "choose another id"))
            continue
        problems.extend(_check_tags(paper, str(path), taxonomies))
        problems.extend(_check_runs_here(paper, str(path), known_demos))
        warnings.extend(citation_warnings(paper, str(path)))
        if vocabulary:
            problems.extend(_check_keywords(paper, str(path), vocabulary))
        papers[paper.id] = paper
        files[paper.id] = path
    for tax in taxonomies.values():
        digest.update(tax.model_dump_json().encode())
    digest.update(repr(sorted(vocabulary.items())).encode())
    problems.extend(_check_duplicates(papers, files))
    problems.extend(_check_names(papers, files))
    return Catalog(papers, taxonomies, problems, warnings, files, digest.hexdigest()[:16], vocabulary)


def _load_paper(path: Path, text: str, problems: list[Problem]) -> Paper | None:
    try:
        data = load_yaml_text(text)
    except YamlError as exc:
        problems.append(Problem(str(path), None, f"malformed YAML: {exc}", "fix the syntax at that line", exc.line))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(str(path), None, "expected a mapping of field: value at the top level", "see CONTRIBUTING.md for the format"))
        return None
    try:
        paper = Paper.model_validate(data)
    except ValidationError as exc:
        problems.extend(from_validation_error(path, exc))
        return None
    if paper.id != path.stem:
        problems.append(Problem(str(path), "id", f"id {paper.id!r} does not match the file name", f"rename the file to {paper.id}.yaml or set id: {path.stem}"))
        return None
    return paper


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    for problem in problems:
        yield str(problem)
