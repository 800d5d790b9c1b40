"""The app's questions about the catalog, answered as plain data (no Streamlit).

Every page of the app is a thin layout over these functions: counts for the
overview, tree frames for the sunburst, the crosswalk between taxonomies,
paper search and filters, and where a node's reference implementation lives.
Tests call them directly.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from .catalog import Catalog
from .htmlsafe import esc, safe_url
from .models import RUNS_HERE_WORDS, SURVEYS, Node, Paper
from .paths import papers_dir
from .placement import ORIGIN_WORDS, tag_origin

SURVEY_LABELS = {
    "ulhaq2022": "Ulhaq & Akhtar 2022 (EDS/EPS)",
    "shen2025": "Shen et al. 2025 (algorithm/system/framework)",
    "ma2024": "Ma et al. 2024 (parts)",
}
SHORT_LABELS = {"ulhaq2022": "Ulhaq 2022", "shen2025": "Shen 2025", "ma2024": "Ma 2024"}
NO_DEMO_YET = "no reference implementation yet"


# -- cache key ---------------------------------------------------------------
def catalog_fingerprint(catalog_dir: Path, taxonomy_dir: Path) -> str:
    """Hash of every catalog and taxonomy file's name and bytes (the keyword vocabulary included).

    Cheap (no YAML parsing), so the app can recompute it on every rerun and
    reload the catalog only when a file was added, removed or edited. Only
    regular files are read (a FIFO would block, a symlink may point anywhere),
    and a file over the loader's size limit counts by its size and time, unread.
    """
    import stat

    from .yamlio import MAX_FILE_BYTES

    digest = hashlib.sha256()
    folders = [papers_dir(Path(catalog_dir)), Path(taxonomy_dir)]
    extra = [Path(catalog_dir) / "keywords.yaml"]
    for folder in folders:
        if not folder.is_dir():
            digest.update(b"missing:" + str(folder).encode())
            continue
        paths = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        for path in paths + (extra if folder == folders[0] else []):
            digest.update(path.name.encode() + b"\0")
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                    digest.update(f"{info.st_mode}:{info.st_size}:{info.st_mtime_ns}".encode())
                else:
                    digest.update(path.read_bytes())
            except OSError:
                digest.update(b"unreadable")
            digest.update(b"\0")
    return digest.hexdigest()[:16]


# -- overview ----------------------------------------------------------------
def taxonomy_ids(catalog: Catalog) -> list[str]:
    """Loaded taxonomies in the project's order: EDS/EPS, algorithm/system/framework, Ma's parts."""
    known = [t for t in SURVEYS if t in catalog.taxonomies]
    return known + sorted(t for t in catalog.taxonomies if t not in known)


def research_papers(catalog: Catalog, include_background: bool = False) -> list[Paper]:
    return [p for p in catalog.papers.values() if include_background or p.kind != "background"]


def overview_counts(catalog: Catalog) -> dict[str, int | str]:
    papers = research_papers(catalog)
    years = [p.year for p in papers if p.year]
    nodes = sum(len(index) for index in catalog.node_index.values())
    demos = {n.demo for index in catalog.node_index.values() for n in index.values() if n.demo}
    return {
        "papers": len(papers),
        "background": sum(1 for p in catalog.papers.values() if p.kind == "background"),
        "venues": len({p.venue for p in papers if p.venue}),
        "years": f"{min(years)}\u2013{str(max(years))[2:]}" if years else "\u2013",
        "year_count": len(set(years)),
        "surveys": len(catalog.taxonomies),
        "nodes": nodes,
        "demos": len(demos),
        "with_code": sum(1 for p in papers if p.code),
        "problems": len(catalog.problems),
    }


def node_paper_counts(catalog: Catalog, tid: str) -> dict[str, tuple[int, int]]:
    """node id -> (papers tagged exactly there, distinct papers in its subtree)."""
    index = catalog.node_index.get(tid, {})
    exact: Counter = Counter()
    subtree: dict[str, set] = {nid: set() for nid in index}
    for paper in catalog.papers.values():
        for tag in paper.tags.get(tid, []):
            if tag not in index:
                continue
            exact[tag] += 1
            parts = tag.split(".")
            for depth in range(1, len(parts) + 1):
                subtree.setdefault(".".join(parts[:depth]), set()).add(paper.id)
    return {nid: (exact[nid], len(subtree.get(nid, ()))) for nid in index}


def tree_frame(catalog: Catalog, tid: str) -> pd.DataFrame:
    """Rows for a plotly sunburst/treemap with branchvalues='remainder'.

    `value` is the number of papers filed exactly at the node, so a parent's
    area is its own papers plus its children's: the chart is sized by paper
    placements (a paper filed under two leaves counts in both). `category` is the name of the node's
    top-level ancestor, the key of the taxonomy's colour map (the same as `timeline_frame`'s `category`).
    """
    tax = catalog.taxonomies.get(tid)
    if tax is None:
        return pd.DataFrame(columns=["id", "parent", "label", "value", "papers", "description", "category"])
    counts = node_paper_counts(catalog, tid)
    tops = {n.id: n.name for n in tax.nodes}
    rows = []
    for node, _depth in tax.walk():
        parent = node.id.rsplit(".", 1)[0] if "." in node.id else ""
        exact, distinct = counts.get(node.id, (0, 0))
        rows.append({"id": node.id, "parent": parent, "label": node.name, "value": exact,
                     "papers": distinct, "description": node.description,
                     "category": tops.get(node.id.split(".")[0], node.name)})
    return pd.DataFrame(rows)


def primary_top(paper: Paper, tid: str) -> str | None:
    """The top-level category of the paper's first tag in a taxonomy."""
    tags = paper.tags.get(tid) or []
    return tags[0].split(".")[0] if tags else None


def timeline_frame(catalog: Catalog, tid: str) -> pd.DataFrame:
    """Papers per year, stacked by the top-level category of their first tag."""
    tax = catalog.taxonomies.get(tid)
    names = {n.id: n.name for n in tax.nodes} if tax else {}
    counts: Counter = Counter()
    for paper in research_papers(catalog):
        if not paper.year:
            continue
        top = primary_top(paper, tid)
        counts[(paper.year, names.get(top, "not filed") if top else "not filed")] += 1
    rows = [{"year": y, "category": c, "papers": n} for (y, c), n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=["year", "category", "papers"])


# -- surveys -----------------------------------------------------------------
def survey_sets(catalog: Catalog) -> dict[str, set[str]]:
    return {s: {p.id for p in catalog.by_survey(s)} for s in SURVEYS}


def survey_overlap(catalog: Catalog) -> pd.DataFrame:
    """One row per combination of surveys: how many papers exactly those surveys list."""
    membership = Counter(tuple(s for s in SURVEYS if s in p.surveys()) for p in catalog.papers.values())
    rows = []
    for size in range(1, len(SURVEYS) + 1):
        for combo in itertools.combinations(SURVEYS, size):
            rows.append({"surveys": " + ".join(SHORT_LABELS[s] for s in combo) + (" only" if size < len(SURVEYS) else ""),
                         "combination": combo, "papers": membership.get(combo, 0)})
    rows.append({"surveys": "no survey (contributed)", "combination": (), "papers": membership.get((), 0)})
    return pd.DataFrame(rows)


def survey_coverage(catalog: Catalog) -> pd.DataFrame:
    rows = []
    sets = survey_sets(catalog)
    for s in SURVEYS:
        others = set().union(*(sets[o] for o in SURVEYS if o != s))
        rows.append({
            "survey": SURVEY_LABELS[s],
            "papers listed": len(sets[s]),
            "listed by this survey only": len(sets[s] - others),
            "papers filed in its taxonomy": sum(1 for p in catalog.papers.values() if p.tags.get(s)),
            "taxonomy nodes": len(catalog.node_index.get(s, {})),
        })
    return pd.DataFrame(rows)


def pairwise_overlap(catalog: Catalog) -> pd.DataFrame:
    sets = survey_sets(catalog)
    labels = [SHORT_LABELS[s] for s in SURVEYS]
    data = [[len(sets[a] & sets[b]) for b in SURVEYS] for a in SURVEYS]
    return pd.DataFrame(data, index=labels, columns=labels)


def _at_depth(tag: str, depth: int) -> str:
    return ".".join(tag.split(".")[: depth + 1])


def crosswalk_matrix(catalog: Catalog, row_tid: str, col_tid: str, depth: int = 1,
                     papers: Iterable[Paper] | None = None) -> pd.DataFrame:
    """Papers filed under each pair of nodes (cut at `depth`, 0 = top level)."""
    rows_index = [n.id for n, d in catalog.taxonomies[row_tid].walk() if d == depth] if row_tid in catalog.taxonomies else []
    cols_index = [n.id for n, d in catalog.taxonomies[col_tid].walk() if d == depth] if col_tid in catalog.taxonomies else []
    # nodes shallower than `depth` without children keep their own id (e.g. shen2025 'framework')
    for tid, target in ((row_tid, rows_index), (col_tid, cols_index)):
        if tid in catalog.taxonomies:
            for node, d in catalog.taxonomies[tid].walk():
                if d < depth and node.is_leaf:
                    target.append(node.id)
    matrix = pd.DataFrame(0, index=rows_index, columns=cols_index)
    for paper in papers if papers is not None else catalog.papers.values():
        r = {_at_depth(t, depth) for t in paper.tags.get(row_tid, [])} & set(rows_index)
        c = {_at_depth(t, depth) for t in paper.tags.get(col_tid, [])} & set(cols_index)
        for a in r:
            for b in c:
                matrix.loc[a, b] += 1
    return matrix


def node_crosswalk(catalog: Catalog, tid: str, node_id: str) -> pd.DataFrame:
    """How the papers at a node are filed in the other taxonomies."""
    papers = catalog.by_node(tid, node_id)
    rows = []
    for other in catalog.taxonomies:
        if other == tid:
            continue
        counts = Counter(t for p in papers for t in set(p.tags.get(other, [])))
        unfiled = sum(1 for p in papers if not p.tags.get(other))
        for nid, n in counts.most_common():
            node = catalog.node(other, nid)
            rows.append({"taxonomy": SHORT_LABELS.get(other, other), "node": nid,
                         "name": node.name if node else "(unknown node)", "papers": n})
        if unfiled:
            rows.append({"taxonomy": SHORT_LABELS.get(other, other), "node": "", "name": "not filed", "papers": unfiled})
    return pd.DataFrame(rows, columns=["taxonomy", "node", "name", "papers"])


# -- taxonomy nodes and demos -------------------------------------------------
@dataclass
class DemoInfo:
    demos: list[tuple[str, str]] = field(default_factory=list)  # (demo id, name of the node it belongs to)
    reason: str | None = None
    own: str | None = None  # the demo of this very node; the others in `demos` belong to nodes below it

    def below(self) -> list[tuple[str, str]]:
        """The demos of nodes below this one (a page must say they belong to a child, not to this node)."""
        return [(d, name) for d, name in self.demos if d != self.own]


def node_demo(node: Node) -> DemoInfo:
    """The reference implementation(s) for a node, or why there is none.

    A node with its own demo links to it (`own`); a node with a `no_demo`
    reason states it; an inner node without either lists the demos of the
    nodes below it, each with the name of the node it belongs to.
    """
    if node.demo:
        return DemoInfo([(node.demo, node.name)], own=node.demo)
    if node.no_demo:
        return DemoInfo(reason=node.no_demo)
    found = [(n.demo, n.name) for n, _ in node.walk() if n.demo]
    if found:
        return DemoInfo(found)
    return DemoInfo(reason=NO_DEMO_YET)


def node_options(catalog: Catalog, tid: str) -> list[tuple[str, str]]:
    """(node id, indented label with subtree paper count) in tree order."""
    tax = catalog.taxonomies.get(tid)
    if tax is None:
        return []
    counts = node_paper_counts(catalog, tid)
    indent = "\u2003"
    return [(n.id, f"{indent * d}{n.name} ({counts.get(n.id, (0, 0))[1]})") for n, d in tax.walk()]


def breadcrumb(catalog: Catalog, tid: str, node_id: str) -> list[Node]:
    parts = node_id.split(".")
    out = []
    for depth in range(1, len(parts) + 1):
        node = catalog.node(tid, ".".join(parts[:depth]))
        if node is not None:
            out.append(node)
    return out


# -- papers ------------------------------------------------------------------
PAPER_COLUMNS = ["id", "name", "title", "year", "venue", "kind", "paper", "code", "surveys", "incomplete"]


def papers_frame(papers: Iterable[Paper], relevance: dict[str, float] | None = None) -> pd.DataFrame:
    """The table the app shows: links only when they are http(s) (else an empty cell, never 'None');
    `incomplete` names missing citation fields.

    Without `relevance` the rows go newest first; with it (paper id -> score, from a search) the rows
    keep the order given and a `relevance` column follows the id."""
    papers = list(papers)
    rows = [{
        "id": p.id, "name": p.name or "", "title": p.title, "year": p.year, "venue": p.venue or "",
        "kind": p.kind, "paper": safe_url(p.url) or "", "code": safe_url(p.code) or "",
        "surveys": ", ".join(SHORT_LABELS.get(s, s) for s in p.surveys()),
        "incomplete": ("no " + ", no ".join(p.missing_citation_fields())) if p.missing_citation_fields() else "",
    } for p in papers]
    frame = pd.DataFrame(rows, columns=PAPER_COLUMNS)
    frame["year"] = frame["year"].astype("Int64")
    if relevance is not None:
        frame.insert(1, "relevance", [relevance.get(p.id, 0.0) for p in papers])
    elif not frame.empty:
        frame = frame.sort_values(["year", "title"], ascending=[False, True], na_position="last").reset_index(drop=True)
    return frame


def export_frame(papers: Iterable[Paper]) -> pd.DataFrame:
    """Flat table for CSV download: one row per paper, list fields joined by '; '."""
    rows = []
    for p in papers:
        row = {"id": p.id, "name": p.name, "title": p.title, "year": p.year, "month": p.month,
               "authors": "; ".join(p.authors), "venue": p.venue, "kind": p.kind,
               "arxiv": p.arxiv, "doi": p.doi, "url": p.url, "code": p.code,
               "summary": p.summary, "keywords": "; ".join(p.keywords),
               "surveys": "; ".join(p.surveys())}
        for tid in SURVEYS:
            row[f"tags_{tid}"] = "; ".join(p.tags.get(tid, []))
        rows.append(row)
    return pd.DataFrame(rows)


# -- relevance-ranked search ----------------------------------------------------
# How much a match counts in each field: a paper is about what its method name,
# title and keywords say; the summary, authors and venue only mention things.
SEARCH_WEIGHTS = {"name": 5.0, "title": 4.0, "keywords": 3.0, "authors": 2.0, "id": 1.0, "venue": 1.0,
                  "summary": 1.0}
WHOLE_WORD, SAME_FAMILY, PART_OF_WORD = 1.0, 0.8, 0.3  # 'quantization' / 'quantizing' / 'dequantization'
_TOKEN = re.compile(r"[a-z0-9]+")


def query_words(query: str) -> list[str]:
    """The lower-cased words of a search box query."""
    return [w for w in re.split(r"\s+", (query or "").lower().strip()) if w]


def _same_family(word: str, token: str) -> bool:
    """'quantization' and 'quantizing', 'caching' and 'cache': a shared stem of 4+ letters followed by
    short endings (at most 5 letters each, the shorter word losing at most 3). No stemmer needed."""
    if word == token or min(len(word), len(token)) < 4:
        return word == token
    common = len(os.path.commonprefix([word, token]))
    rest = max(len(word), len(token)) - common
    return common >= 4 and rest <= 5 and common >= min(len(word), len(token)) - 3


@dataclass(frozen=True)
class _Text:
    """A lower-cased field and its set of words, prepared once per search."""
    text: str
    tokens: frozenset

    @classmethod
    def of(cls, text: str) -> "_Text":
        lower = (text or "").lower()
        return cls(lower, frozenset(_TOKEN.findall(lower)))


def _word_score(word: str, text: _Text, family: frozenset) -> float:
    """How well one query word matches one field: whole word, same word family, inside a word, or 0."""
    if word.isalnum():
        if word in text.tokens:
            return WHOLE_WORD
        if text.tokens & family:
            return SAME_FAMILY
    elif re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text.text):
        return WHOLE_WORD
    return PART_OF_WORD if word in text.text else 0.0


def _prepared(paper: Paper) -> tuple[dict[str, _Text], list[_Text]]:
    return {k: _Text.of(v) for k, v in _search_fields(paper).items() if v}, [_Text.of(k) for k in paper.keywords]


def _families(words: list[str], corpus: str) -> dict[str, frozenset]:
    """Each query word's family among the words of the lower-cased `corpus` (once per search, not per paper):
    only words starting with the same four letters can be in it."""
    out = {}
    for w in words:
        if not w.isalnum() or len(w) < 4:
            out[w] = frozenset()
            continue
        candidates = set(re.findall(rf"(?<![a-z0-9]){re.escape(w[:4])}[a-z0-9]*", corpus))
        out[w] = frozenset(t for t in candidates if _same_family(w, t))
    return out


def _score(prepared: tuple[dict[str, _Text], list[_Text]], words: list[str], families: dict[str, frozenset]) -> float:
    fields, keywords = prepared
    total = 0.0
    for word in words:
        family = families[word]
        score = sum(SEARCH_WEIGHTS[f] * _word_score(word, text, family) for f, text in fields.items())
        score += SEARCH_WEIGHTS["keywords"] * max(
            (_word_score(word, k, family) / max(len(k.tokens), 1) for k in keywords), default=0.0)
        if score == 0:
            return 0.0
        total += score
    phrase = " ".join(words)
    targets = [fields[f] for f in ("name", "title") if f in fields] + keywords
    if len(words) > 1 and any(_word_score(phrase, t, frozenset()) == WHOLE_WORD for t in targets):
        total += 3.0
    return round(total, 2)


def _search_fields(paper: Paper) -> dict[str, str]:
    return {"name": paper.name or "", "title": paper.title, "authors": " ".join(paper.authors), "id": paper.id,
            "venue": paper.venue or "", "summary": paper.summary}


def relevance(paper: Paper, words: list[str]) -> float:
    """The paper's score for these query words, 0 when a word matches nowhere (every word must match).

    Each word scores in every field it matches (field weight x match quality); a keyword counts by the
    share of its words the query covers, so 'quantization' ranks the keyword 'quantization' above
    'vector quantization'. A multi-word query found as a phrase in the name, title or a keyword adds 3.
    """
    if not words:
        return 0.0
    prepared = _prepared(paper)
    corpus = " ".join([*(t.text for t in prepared[0].values()), *(k.text for k in prepared[1])])
    return _score(prepared, words, _families(words, corpus))


def highlight_spans(text: str, words: list[str]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, matched) pieces: the query words, and the words of their family, are marked.

    A page escapes every piece and wraps the matched ones (escape first, then mark), so catalog text never
    becomes markup."""
    text = text or ""
    spans = []
    lower = text.lower()
    for word in words:
        spans += [(m.start(), m.end()) for m in re.finditer(re.escape(word), lower)]
        if word.isalnum():
            spans += [(m.start(), m.end()) for m in _TOKEN.finditer(lower) if _same_family(word, m.group())]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def highlight_html(text: str, words: list[str]) -> str:
    """HTML of `text` with the query's matches in <mark>: each piece is escaped first, then marked."""
    return "".join(f"<mark>{esc(piece)}</mark>" if hit else esc(piece) for piece, hit in highlight_spans(text, words))


def summary_snippet(text: str, words: list[str], width: int = 240) -> str:
    """About `width` characters of `text` around its first match (the start when nothing matches)."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if len(text) <= width:
        return text
    first = min((m.start() for w in words for m in [re.search(re.escape(w), text.lower())] if m), default=0)
    start = max(0, min(first - width // 3, len(text) - width))
    cut = text[start:start + width]
    return ("\u2026" if start else "") + cut + ("\u2026" if start + width < len(text) else "")


@dataclass
class Filters:
    query: str = ""
    nodes: list[str] = field(default_factory=list)  # "taxonomy:node.id"; a paper matches if under any
    years: tuple[int, int] | None = None
    venues: list[str] = field(default_factory=list)
    surveys: list[str] = field(default_factory=list)
    has_code: bool = False
    kinds: list[str] = field(default_factory=lambda: ["paper", "framework", "survey"])
    keywords: list[str] = field(default_factory=list)  # terms of the controlled vocabulary; any of them

    def describe(self) -> str:
        parts = []
        if self.query:
            parts.append(f"text '{self.query}'")
        if self.nodes:
            parts.append("nodes " + ", ".join(self.nodes))
        if self.years:
            parts.append(f"years {self.years[0]}-{self.years[1]}")
        if self.venues:
            parts.append("venues " + ", ".join(self.venues))
        if self.surveys:
            parts.append("surveys " + ", ".join(self.surveys))
        if self.keywords:
            parts.append("keywords " + ", ".join(self.keywords))
        if self.has_code:
            parts.append("with code")
        parts.append("kinds " + ", ".join(self.kinds))
        return "; ".join(parts)


def _matches_filters(paper: Paper, filters: Filters, wanted_nodes: list[tuple[str, str, str]]) -> bool:
    """Every filter but the free text."""
    if filters.kinds and paper.kind not in filters.kinds:
        return False
    if filters.years and (paper.year is None or not filters.years[0] <= paper.year <= filters.years[1]):
        return False
    if filters.venues and (paper.venue or "") not in filters.venues:
        return False
    if filters.surveys and not set(filters.surveys) & set(paper.surveys()):
        return False
    if filters.has_code and not paper.code:
        return False
    if filters.keywords and not set(filters.keywords) & set(paper.keywords):
        return False
    return not wanted_nodes or any(t == nid or t.startswith(prefix)
                                   for tid, nid, prefix in wanted_nodes for t in paper.tags.get(tid, []))


def search_papers(catalog: Catalog, filters: Filters) -> list[tuple[Paper, float]]:
    """(paper, relevance) for the papers matching every filter, most relevant first.

    Every query word must match (see `relevance`); ties, and a search without words, go newest first,
    then by title."""
    words = query_words(filters.query)
    wanted_nodes = [(tid, nid, nid + ".") for tid, _, nid in (item.partition(":") for item in filters.nodes)]
    kept = [paper for paper in catalog.papers.values() if _matches_filters(paper, filters, wanted_nodes)]
    out = [(paper, 0.0) for paper in kept]
    if words:
        # cheap first pass on one lower-cased string per paper; only the papers that can match get scored
        hays = [" ".join([*_search_fields(p).values(), *p.keywords]).lower() for p in kept]
        families = _families(words, " ".join(hays))
        maybe = [p for p, hay in zip(kept, hays)
                 if all(w in hay or any(t in hay for t in families[w]) for w in words)]
        scored = ((paper, _score(_prepared(paper), words, families)) for paper in maybe)
        out = [(paper, score) for paper, score in scored if score > 0]
    out.sort(key=lambda item: (-item[1], -(item[0].year or 0), item[0].title.lower()))
    return out


def filter_papers(catalog: Catalog, filters: Filters) -> list[Paper]:
    """Papers matching every filter, most relevant first (see `search_papers`)."""
    return [paper for paper, _ in search_papers(catalog, filters)]


def node_path_label(catalog: Catalog, tid: str, node_id: str) -> str:
    """'Shen 2025 > Compression > Quantization': the survey's short label, then the node names from the top."""
    names = [n.name for n in breadcrumb(catalog, tid, node_id)] or [node_id]
    return " > ".join([SHORT_LABELS.get(tid, tid)] + names)


def all_node_choices(catalog: Catalog) -> list[tuple[str, str]]:
    """('taxonomy:node', 'Shen 2025 > Compression > Quantization') for every node of every taxonomy, in tree order."""
    return [(f"{tid}:{node.id}", node_path_label(catalog, tid, node.id))
            for tid in taxonomy_ids(catalog) for node, _depth in catalog.taxonomies[tid].walk()]


def tag_rows(catalog: Catalog, paper: Paper) -> pd.DataFrame:
    """Each placement with its origin (the survey's own filing or diffatlas's curation), and each tree it is outside."""
    rows = []
    for tid, tags in paper.tags.items():
        for tag in tags:
            node = catalog.node(tid, tag)
            rows.append({"taxonomy": SHORT_LABELS.get(tid, tid), "node": tag,
                         "name": node.name if node else "(unknown node)",
                         "placed by": ORIGIN_WORDS[tag_origin(paper, tid, tag)]})
    for tid, reason in paper.outside.items():
        rows.append({"taxonomy": SHORT_LABELS.get(tid, tid), "node": "(outside this tree)", "name": reason,
                     "placed by": "diffatlas: no node of this tree fits"})
    return pd.DataFrame(rows, columns=["taxonomy", "node", "name", "placed by"])


def node_origins(catalog: Catalog, tid: str, node_id: str) -> dict[str, str]:
    """{paper id: origin} for the papers filed at this node or below, by their tag nearest the node."""
    prefix = node_id + "."
    out = {}
    for paper in catalog.by_node(tid, node_id):
        found = [tag_origin(paper, tid, t) for t in paper.tags.get(tid, []) if t == node_id or t.startswith(prefix)]
        out[paper.id] = next((o for o in ("survey", "refined", "curated") if o in found), "curated")
    return out


def outside_papers(catalog: Catalog, tid: str) -> list[Paper]:
    """Papers marked as fitting no node of this tree, by title."""
    return sorted((p for p in catalog.papers.values() if tid in p.outside), key=lambda p: p.title.lower())


def provenance_frame(paper: Paper) -> pd.DataFrame:
    rows = [{"survey": SHORT_LABELS.get(x.survey, x.survey), "section": x.section, "ref": x.ref or "",
             "as named": x.name or x.title or "", "venue given": x.venue or "", "supports": ", ".join(x.supports),
             "note": x.note or ""}
            for x in paper.listed_in]
    return pd.DataFrame(rows, columns=["survey", "section", "ref", "as named", "venue given", "supports", "note"])


REPORTED_COLUMNS = ["metric", "value", "unit", "dataset", "steps", "baseline", "speed-up", "hardware", "source", "where",
                    "note"]


def _reported_row(r) -> dict:
    return {"metric": r.metric, "value": str(r.value), "unit": r.unit or "", "dataset": r.dataset or "",
            "steps": "" if r.steps is None else str(r.steps), "baseline": r.baseline or "",
            "speed-up": "" if r.speedup is None else f"{r.speedup:g}x", "hardware": r.hardware or "",
            "source": r.source, "where": r.where or "", "note": r.note or ""}


def reported_frame(paper: Paper) -> pd.DataFrame:
    return pd.DataFrame([_reported_row(r) for r in paper.reported], columns=REPORTED_COLUMNS)


def runs_here_summary(paper: Paper) -> dict | None:
    """A framework's `runs_here` check as plain strings for a page, or None when it was not checked."""
    check = paper.runs_here
    if check is None:
        return None
    return {"status": RUNS_HERE_WORDS[check.status], "checked": check.checked.isoformat(), "machine": check.machine,
            "tried": check.tried, "outcome": check.outcome, "instead": check.instead, "reason": check.reason}


def node_runs_here(catalog: Catalog, tid: str, node_id: str) -> list[Paper]:
    """Entries filed exactly at this node that record whether they run here, by title."""
    return sorted((p for p in catalog.papers.values() if p.runs_here is not None and node_id in p.tags.get(tid, [])),
                  key=lambda p: p.title.lower())


def problems_frame(catalog: Catalog) -> pd.DataFrame:
    rows = [{"file": Path(p.file).name, "line": str(p.line or ""), "field": p.field or "", "problem": p.message,
             "fix": p.hint} for p in catalog.problems]
    return pd.DataFrame(rows, columns=["file", "line", "field", "problem", "fix"])


def reported_figures(catalog, paper_ids) -> list[dict]:
    """The `reported:` figures of the given catalog papers, as plain rows (what the papers say they measured)."""
    rows = []
    for pid in paper_ids:
        paper = catalog.papers.get(pid)
        if paper is None:
            continue
        for r in paper.reported:
            rows.append({"paper": paper.name or pid, **_reported_row(r)})
    return rows


def papers_without_reported(catalog, paper_ids) -> list[tuple[str, str]]:
    """(paper, why) for each given catalog paper with no reported figure: its recorded reason, or 'not curated yet'."""
    out = []
    for pid in paper_ids:
        paper = catalog.papers.get(pid)
        if paper is None:
            out.append((pid, "not in this catalog"))
        elif not paper.reported:
            out.append((paper.name or pid, paper.no_reported or "no figure recorded yet; none was curated"))
    return out


def survey_table_rows(catalog: Catalog, survey: str = "ulhaq2022", prefix: str = "Table") -> pd.DataFrame:
    """A survey's own tables as the catalog holds them: one row per listing in a section starting with `prefix`.

    `method` is the catalog's method name (the paper's own), `as named` the survey's; for Ulhaq & Akhtar's
    Table III the row carries the figures the catalog keeps from that table.
    """
    rows = []
    for paper in catalog.papers.values():
        for item in paper.listed_in:
            if item.survey != survey or not item.section.startswith(prefix):
                continue
            table, _, group = item.section.partition(" > ")
            from_table = [r for r in paper.reported if r.source.startswith(survey)] if "Table III" in table else []
            in_group = [r for r in from_table if group and group.lower() in (r.dataset or "").lower() + (r.note or "").lower()]
            figures = [f"{r.metric} {r.value}{(' ' + r.unit) if r.unit else ''}"
                       + (f" ({r.steps} steps)" if r.steps not in (None, "", "NA") else "")
                       for r in (in_group or from_table)]
            rows.append({"table": table.split(":")[0], "group": group, "ref": item.ref or "",
                         "method": paper.name or "", "as named": item.name or "", "title": paper.title,
                         "year": paper.year, "id": paper.id, "figures": "; ".join(figures)})
    frame = pd.DataFrame(rows, columns=["table", "group", "ref", "method", "as named", "title", "year", "id", "figures"])
    frame["year"] = frame["year"].astype("Int64")
    return frame.sort_values(["table", "group", "year", "title"], na_position="last").reset_index(drop=True)
