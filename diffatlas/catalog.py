"""Load and validate the whole catalog once, then answer lookups.

`load_catalog` never raises on bad data: it returns a `Catalog` holding every
valid paper plus a list of every problem found, so the CLI can print them all at
once and the app can show the valid part next to the errors.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from .dedupe import Key, paper_keys
from .models import SURVEYS, KeywordList, Paper, Taxonomy
from .paths import default_catalog_dir, default_taxonomy_dir, papers_dir
from .problems import Problem, from_validation_error
from .yamlio import YamlError, load_yaml, load_yaml_text, read_text

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
    # Paper files that parsed (safely, within the size limit) but did not validate, e.g. fresh stubs:
    # path -> the mapping as parsed. Duplicate matching counts them as present without re-reading them.
    unvalidated: dict[Path, dict] = field(default_factory=dict)
    unread: list[Path] = field(default_factory=list)  # paper files refused before parsing (size, UTF-8, YAML)

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
            problems.append(yaml_problem(path, exc))
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
        return {}, [yaml_problem(path, exc)]
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


_KEY_WORDS = {"title": "title", "arxiv": "arXiv id", "url": "link", "doi": "DOI"}


def describe_key(key: Key) -> str:
    """'arXiv id 2206.00927 (in its url)': what two entries share, for a duplicate message."""
    words = _KEY_WORDS[key.kind] + ("" if key.kind in ("title", "url") else f" {key.value}")
    return words + ("" if key.field == key.kind else f" (in its {key.field})")


def _check_duplicates(papers: dict[str, Paper], files: dict[str, Path]) -> list[Problem]:
    """The catalog's one duplicate rule (diffatlas.dedupe): each later paper sharing a key with an earlier one."""
    owner: dict[str, str] = {}
    problems = []
    for pid in sorted(papers):
        shared: dict[str, list[Key]] = {}
        for key in paper_keys(papers[pid]):
            first = owner.setdefault(key.token, pid)
            if first != pid:
                shared.setdefault(first, []).append(key)
        for first, keys in shared.items():
            problems.append(Problem(
                str(files[pid]), keys[0].field,
                f"duplicate paper: same {' and '.join(describe_key(k) for k in keys)} as {files[first]}",
                f"merge the two entries into {first}.yaml and delete this file",
            ))
    return problems


def yaml_problem(path: Path, exc: YamlError) -> Problem:
    return Problem(str(path), exc.field, f"{exc.prefix}{exc}", exc.hint, exc.line)


PAPER_SUFFIX = ".yaml"


def paper_files(folder: Path, catalog_dir: Path, problems: list[Problem]) -> list[Path]:
    """The <id>.yaml entries of the papers folder, sorted; every other visible entry is a problem.

    Hidden entries (a leading '.') are ignored: editor swap files (.x.yaml.swp), the
    writers' own temporary files, .gitkeep, .DS_Store. Anything else that is not
    *.yaml (x.YAML, x.yml, x.yaml~, README.md) would be silently skipped, so it is
    reported. In a flat catalog folder (no papers/), only YAML-like names are reported,
    and keywords.yaml is the vocabulary, not a paper.
    """
    flat = Path(folder) == Path(catalog_dir)
    out = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or (flat and name == KEYWORDS_FILE):
            continue
        if name.endswith(PAPER_SUFFIX) and len(name) > len(PAPER_SUFFIX):
            out.append(Path(folder) / name)
        elif not flat or any(ext in name.lower() for ext in (".yaml", ".yml")):
            problems.append(Problem(str(Path(folder) / name), None, "not a paper file, so it is not read",
                                    f"a paper is <id>{PAPER_SUFFIX} (lower-case .yaml): rename it, or move it out of {Path(folder).name}/"))
    return out


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
    unvalidated: dict[Path, dict] = {}
    unread: list[Path] = []
    for path in paper_files(folder, catalog_dir, problems) if folder.is_dir() else []:
        data, paper = _load_paper(path, problems, digest)
        if paper is not None and paper.id in papers:
            problems.append(Problem(str(path), "id", f"id {paper.id!r} already used by {files[paper.id]}", "choose another id"))
            paper = None
        if paper is None:
            if data is None:
                unread.append(path)
            else:
                unvalidated[path] = data
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
    return Catalog(papers, taxonomies, problems, warnings, files, digest.hexdigest()[:16], vocabulary, unvalidated, unread)


def _load_paper(path: Path, problems: list[Problem], digest) -> tuple[dict | None, Paper | None]:
    """(the mapping as parsed, the paper when it validates); problems are appended, the bytes read hashed."""
    try:
        text = read_text(path)
        digest.update(path.name.encode() + b"\0" + text.encode())
        data = load_yaml_text(text)
    except YamlError as exc:
        digest.update(path.name.encode() + b"\0refused")
        problems.append(yaml_problem(path, exc))
        return None, None
    if not isinstance(data, dict):
        problems.append(Problem(str(path), None, "expected a mapping of field: value at the top level", "see CONTRIBUTING.md for the format"))
        return None, None
    try:
        paper = Paper.model_validate(data)
    except ValidationError as exc:
        problems.extend(from_validation_error(path, exc))
        return data, None
    if paper.id != path.stem:
        problems.append(Problem(str(path), "id", f"id {paper.id!r} does not match the file name", f"rename the file to {paper.id}.yaml or set id: {path.stem}"))
        return data, None
    return data, paper


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    for problem in problems:
        yield str(problem)
