"""Bibliometric maps of the catalog: paper similarity and term co-occurrence.

The paper map follows the recipe of science-mapping tools such as VOSviewer,
kept small enough to read top to bottom:

1. **Features.** Each paper's title, summary and keywords become a TF-IDF
   vector (scikit-learn), with English and corpus-wide stop words removed.
2. **Similarity network.** Cosine similarity between the vectors, found by a
   nearest-neighbour search (no n x n matrix); every paper
   keeps edges to its `k` most similar papers whose cosine is at least
   `min_similarity` (so the edge count is capped at k per node). Optionally
   the similarities are normalised by *association strength*,
   s_ij * total / (s_i * s_j), which VOSviewer uses so that papers with
   many generic neighbours do not dominate.
3. **Clusters.** Louvain community detection (networkx) with a resolution
   parameter: higher resolution, more and smaller clusters (the Ulhaq survey
   tunes its clustering the same way). Reproducible through `seed`.
4. **Layout.** Computed in Python (igraph's Fruchterman-Reingold with its
   grid approximation, seeded), so the browser only draws; physics is off.
5. **Reading the map.** A table of clusters with their top terms, size and
   most central paper; the agreement between clusters and each taxonomy's
   top level as normalised mutual information and adjusted Rand index.

The term map does the same with terms as nodes: terms that appear in many
papers, linked by how often two terms appear in the same paper (association
strength again).

Both maps export to VOSviewer's JSON format and to GraphML, and render to a
self-contained HTML page: our template with vis-network's JavaScript inlined
from the installed pyvis package (no CDN, works offline), the node and edge
arrays written into it directly, cluster labels and a legend.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from .htmlsafe import esc, plain, safe_url
from .models import Paper

DOMAIN_STOP_WORDS = {
    "diffusion", "model", "models", "paper", "propose", "proposes", "proposed", "method", "methods",
    "approach", "based", "using", "use", "uses", "new", "novel", "make", "makes", "making",
    "cheaper", "faster", "efficient", "efficiency", "way", "work", "idea", "survey", "shows",
    "existing", "allows", "achieves", "achieve", "different", "able", "large", "small", "high", "low",
    "instead", "add", "adds", "single", "fewer", "fast", "learned", "trains", "lets", "needs", "need",
    "keeps", "runs", "takes", "gives", "turns", "uses", "cites", "cited", "work", "works", "good", "better",
}
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]*[a-zA-Z0-9]\b"
# Tableau 10 without its grey: nine hues a reader can tell apart; the grey is for "other".
# Only the nine largest clusters get a colour (and a label); smaller ones are "other".
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
UNCLUSTERED_COLOR = "#c8c8c8"


def cluster_color(cluster: int) -> str:
    return PALETTE[cluster] if 0 <= cluster < len(PALETTE) else UNCLUSTERED_COLOR


def paper_text(paper: Paper) -> str:
    return " ".join([paper.title, paper.summary, " ".join(paper.keywords), " ".join(paper.keywords)])


def _stop_words() -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(set(ENGLISH_STOP_WORDS) | DOMAIN_STOP_WORDS)


# -- paper similarity network -------------------------------------------------
@dataclass
class PaperNetwork:
    """The similarity network of a set of papers, before clustering.

    No n x n matrix is kept: `neighbours[i]` lists paper i's most similar
    papers (row indices, best first, -1 where there are fewer) and
    `cosines[i]` their cosine similarities. That is all the network needs,
    and it grows linearly with the catalog.
    """

    ids: list[str]
    graph: nx.Graph
    features: object  # scipy sparse TF-IDF matrix, rows in `ids` order, each row of unit length (or zero)
    terms: np.ndarray
    neighbours: np.ndarray
    cosines: np.ndarray
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        self._rows = {pid: i for i, pid in enumerate(self.ids)}

    def index(self, paper_id: str) -> int:
        return self._rows[paper_id]


def tfidf_features(texts: Sequence[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    vectorizer = TfidfVectorizer(
        stop_words=_stop_words(), token_pattern=TOKEN_PATTERN, ngram_range=(1, 2),
        min_df=2 if n >= 30 else 1, max_df=0.5 if n >= 30 else 1.0, sublinear_tf=True,
    )
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # empty vocabulary (no papers, or only stop words)
        from scipy.sparse import csr_matrix

        return csr_matrix((n, 0)), np.array([], dtype=object)
    return matrix, vectorizer.get_feature_names_out()


FREQUENT_TERMS = 1024  # at 10,000 papers: 1,024 terms in more than 2 % of the papers


def nearest_neighbours(features, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most similar other rows by cosine, best first: (indices, cosines).

    The rows are unit TF-IDF vectors, so cosines are sparse dot products,
    computed `chunk` rows at a time: memory stays linear in the catalog (a
    dense n x n similarity matrix was 541 MB at 8,224 papers). A paper is
    never its own neighbour; ties go to the lower row; missing slots (fewer
    than k other papers) hold index -1 and cosine 0.
    """
    n = features.shape[0]
    k = max(0, min(k, n - 1))
    indices, cosines = np.full((n, k), -1, dtype=np.int64), np.zeros((n, k))
    if k == 0 or features.shape[1] == 0:
        return indices, cosines
    # Split the vocabulary: the few frequent terms (shared by most pairs, which makes a
    # sparse product as slow as a dense one) go through a dense BLAS product, the rest
    # stay sparse. The sum of the two is the exact cosine.
    df = np.diff(features.tocsc().indptr)
    frequent = np.zeros(features.shape[1], dtype=bool)
    frequent[np.argsort(-df, kind="stable")[:FREQUENT_TERMS]] = True
    frequent &= df > n / 50
    features = features.astype(np.float32)  # float32: twice as fast, cosines to 1e-7
    dense = features[:, frequent].toarray()
    rare = features[:, ~frequent].tocsr()
    rare_t = rare.T.tocsr()
    for start in range(0, n, chunk):
        block = (rare[start:start + chunk] @ rare_t).toarray() + dense[start:start + chunk] @ dense.T
        rows = np.arange(block.shape[0])
        block[rows, rows + start] = -np.inf  # not its own neighbour
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        # best first, lower index first among equal cosines
        order = np.lexsort((top, -np.take_along_axis(block, top, axis=1)), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        indices[start:start + chunk] = top
        cosines[start:start + chunk] = np.take_along_axis(block, top, axis=1)
    return indices, np.clip(cosines, 0.0, 1.0)


def similarity_totals(features) -> np.ndarray:
    """s_i = sum over j != i of cos(i, j), without forming the matrix: x_i . (sum_j x_j) - x_i . x_i."""
    column_sum = np.asarray(features.sum(axis=0)).ravel()
    self_similarity = np.asarray(features.multiply(features).sum(axis=1)).ravel()
    return np.asarray(features @ column_sum).ravel() - self_similarity


def association_strength(matrix: np.ndarray) -> np.ndarray:
    """VOSviewer's normalisation: observed weight over the weight expected from totals (dense; small inputs)."""
    totals = matrix.sum(axis=1)
    grand = totals.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = matrix * grand / np.outer(totals, totals)
    out[~np.isfinite(out)] = 0.0
    return out


NEIGHBOUR_POOL = 20  # neighbours kept per paper: the map's largest k (its slider stops at 20)


def build_paper_network(papers: Iterable[Paper], k: int = 8, min_similarity: float = 0.1,
                        normalization: str = "cosine") -> PaperNetwork:
    """TF-IDF cosine similarity network with at most k strongest edges per paper.

    normalization: "cosine" keeps cosine similarities as edge weights;
    "association" ranks and weights edges by association strength,
    s_ij * S / (s_i * s_j), among each paper's 4k (at least 20) most similar
    papers. Either way an edge needs a cosine similarity of at least
    `min_similarity`.
    """
    papers = sorted(papers, key=lambda p: p.id)
    ids = [p.id for p in papers]
    features, terms = tfidf_features([paper_text(p) for p in papers])
    pool = max(k, NEIGHBOUR_POOL) if normalization != "association" else max(4 * k, NEIGHBOUR_POOL)
    neighbours, cosines = nearest_neighbours(features, pool)
    weights = cosines
    if normalization == "association" and neighbours.size:
        totals = similarity_totals(features)
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = cosines * totals.sum() / (totals[:, None] * totals[np.maximum(neighbours, 0)])
        weights[~np.isfinite(weights)] = 0.0
    graph = nx.Graph()
    graph.add_nodes_from((p.id, {"title": p.title, "name": p.name or "", "year": p.year, "venue": p.venue or "",
                                 "url": safe_url(p.url), "kind": p.kind}) for p in papers)
    edges = []
    for i in range(len(ids)):
        candidates = np.flatnonzero((cosines[i] >= max(min_similarity, 1e-9)) & (neighbours[i] >= 0))
        for c in candidates[np.argsort(-weights[i, candidates], kind="stable")[:k]]:
            j = neighbours[i, c]
            edges.append((ids[i], ids[j], {"weight": float(weights[i, c]), "cosine": float(cosines[i, c])}))
    graph.add_edges_from(edges)
    params = {"k": k, "min_similarity": min_similarity, "normalization": normalization}
    return PaperNetwork(ids, graph, features, terms, neighbours, cosines, params)


def louvain_clusters(graph: nx.Graph, resolution: float = 1.0, seed: int = 0,
                     min_size: int = 2) -> dict[str, int]:
    """node -> cluster number (0 = largest); nodes in clusters smaller than min_size get -1.

    Louvain (igraph's multilevel method, in C: 10x faster than networkx's at
    10,000 papers), seeded through igraph's random number generator.
    """
    if graph.number_of_nodes() == 0:
        return {}
    import igraph

    nodes = sorted(graph.nodes)
    row = {node: i for i, node in enumerate(nodes)}
    g = igraph.Graph(n=len(nodes), edges=[(row[a], row[b]) for a, b in graph.edges()])
    weights = [float(d.get("weight", 1.0)) for _, _, d in graph.edges(data=True)]
    igraph.set_random_number_generator(random.Random(seed))
    try:
        membership = g.community_multilevel(weights=weights or None, resolution=resolution).membership
    finally:
        igraph.set_random_number_generator(random)
    groups: dict[int, list[str]] = {}
    for node, c in zip(nodes, membership):
        groups.setdefault(c, []).append(node)
    communities = sorted(groups.values(), key=lambda c: (-len(c), c[0]))
    out: dict[str, int] = {}
    number = 0
    for members in communities:
        if len(members) < min_size:
            out.update((m, -1) for m in members)
            continue
        out.update((m, number) for m in members)
        number += 1
    return out


def cluster_count(clusters: dict[str, int]) -> int:
    return len({c for c in clusters.values() if c >= 0})


def modularity(graph: nx.Graph, clusters: dict[str, int], resolution: float = 1.0) -> float:
    if graph.number_of_edges() == 0:
        return 0.0
    groups: dict[int, set] = {}
    singles = 0
    for node, c in clusters.items():
        if c < 0:  # each unclustered node is its own community
            singles -= 1
            c = singles
        groups.setdefault(c, set()).add(node)
    return float(nx.community.modularity(graph, list(groups.values()), weight="weight", resolution=resolution))


def layout(graph: nx.Graph, seed: int = 0, scale: float = 900.0, aspect: float = 1.7) -> dict[str, tuple[float, float]]:
    """Force-directed positions computed in Python (seeded, so reproducible),
    stretched horizontally by `aspect` to fill a wide canvas.

    igraph's Fruchterman-Reingold in C, with its grid approximation of the
    repulsion above 1,000 nodes, so a step costs about O(n + E) instead of
    networkx's O(n^2) (44 s at 8,224 papers before).
    """
    if graph.number_of_nodes() == 0:
        return {}
    import igraph

    nodes = list(graph.nodes)
    row = {node: i for i, node in enumerate(nodes)}
    edges = [(row[a], row[b]) for a, b in graph.edges()]
    weights = [float(d.get("weight", 1.0)) for _, _, d in graph.edges(data=True)]
    start = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(len(nodes), 2)) * math.sqrt(len(nodes))
    g = igraph.Graph(n=len(nodes), edges=edges)
    igraph.set_random_number_generator(random.Random(seed))  # its steps draw random numbers too
    try:
        coords = np.array(g.layout_fruchterman_reingold(weights=weights or None, seed=start.tolist(), niter=150,
                                                        grid="auto").coords, dtype=float)
    finally:
        igraph.set_random_number_generator(random)
    coords -= np.median(coords, axis=0)
    spread = np.percentile(np.abs(coords), 98, axis=0)  # a few far-flung isolates do not shrink the rest
    coords /= np.where(spread > 0, spread, 1.0)
    coords = np.clip(coords, -1.15, 1.15)  # small components drift far: keep them at the edge of the view
    return {node: (float(x) * scale * aspect, float(y) * scale) for node, (x, y) in zip(nodes, coords)}


def _inner_strength(graph: nx.Graph, clusters: dict[str, int]) -> dict[str, tuple[float, int]]:
    """node -> (weight, count) of its links inside its own cluster, in one pass over the edges."""
    weight = dict.fromkeys(graph.nodes, 0.0)
    count = dict.fromkeys(graph.nodes, 0)
    for a, b, w in graph.edges(data="weight", default=1.0):
        if clusters.get(a, -1) == clusters.get(b, -2):
            weight[a] += w
            weight[b] += w
            count[a] += 1
            count[b] += 1
    return {node: (weight[node], count[node]) for node in graph.nodes}


def cluster_table(network: PaperNetwork, clusters: dict[str, int], n_terms: int = 6) -> pd.DataFrame:
    """Per cluster: size, top TF-IDF terms, and the most central paper (highest intra-cluster strength)."""
    rows = []
    index = {pid: i for i, pid in enumerate(network.ids)}
    members: dict[int, list[str]] = {}
    for pid, c in clusters.items():
        if c >= 0:
            members.setdefault(c, []).append(pid)
    inner = _inner_strength(network.graph, clusters)
    for c in sorted(members):
        ids = sorted(members[c])
        idx = [index[p] for p in ids]
        terms = ""
        if network.features.shape[1]:
            mean = np.asarray(network.features[idx].mean(axis=0)).ravel()
            top = np.argsort(-mean, kind="stable")[:n_terms]
            terms = ", ".join(str(network.terms[t]) for t in top if mean[t] > 0)
        rep = max(ids, key=lambda p: (inner[p], p))
        years = [network.graph.nodes[p]["year"] for p in ids if network.graph.nodes[p]["year"]]
        rows.append({
            "cluster": c + 1, "papers": len(ids), "top terms": terms,
            "representative": network.graph.nodes[rep]["title"], "representative id": rep,
            "median year": int(np.median(years)) if years else None,
        })
    unclustered = sum(1 for c in clusters.values() if c < 0)
    if unclustered:
        rows.append({"cluster": 0, "papers": unclustered, "top terms": "(isolated or in clusters of one)",
                     "representative": "", "representative id": "", "median year": None})
    return pd.DataFrame(rows, columns=["cluster", "papers", "top terms", "representative", "representative id", "median year"])


def taxonomy_agreement(clusters: dict[str, int], papers: Iterable[Paper], taxonomies: Iterable[str]) -> pd.DataFrame:
    """How well the map's clusters match each taxonomy: NMI and ARI against the
    top-level and second-level node of each paper's first tag (papers without a
    tag in that taxonomy, or left unclustered, are left out)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    papers = list(papers)
    rows = []
    for tid in taxonomies:
        for level, depth in (("top level", 1), ("second level", 2)):
            labels_true, labels_pred = [], []
            for p in papers:
                tags = p.tags.get(tid) or []
                c = clusters.get(p.id, -1)
                if not tags or c < 0:
                    continue
                labels_true.append(".".join(tags[0].split(".")[:depth]))
                labels_pred.append(c)
            if len(labels_true) >= 2:
                nmi = float(normalized_mutual_info_score(labels_true, labels_pred))
                ari = float(adjusted_rand_score(labels_true, labels_pred))
            else:
                nmi = ari = float("nan")
            rows.append({"taxonomy": tid, "level": level, "papers compared": len(labels_true),
                         "categories": len(set(labels_true)), "clusters": len(set(labels_pred)),
                         "NMI": round(nmi, 3), "ARI": round(ari, 3)})
    return pd.DataFrame(rows, columns=["taxonomy", "level", "papers compared", "categories", "clusters", "NMI", "ARI"])


@dataclass
class TextIndex:
    """The TF-IDF rows of a set of papers, for 'similar papers' queries one paper at a time."""

    ids: list[str]
    features: object
    terms: np.ndarray

    def __post_init__(self):
        self._rows = {pid: i for i, pid in enumerate(self.ids)}

    def index(self, paper_id: str) -> int:
        return self._rows[paper_id]


def text_index(papers: Iterable[Paper]) -> TextIndex:
    """TF-IDF of the papers (the map's features) without any network: enough for similar_papers."""
    papers = sorted(papers, key=lambda p: p.id)
    features, terms = tfidf_features([paper_text(p) for p in papers])
    return TextIndex([p.id for p in papers], features, terms)


def similar_papers(index: TextIndex | PaperNetwork, paper_id: str, n: int = 5,
                   min_similarity: float = 0.05) -> list[tuple[str, float]]:
    """The n papers with the highest cosine similarity to one paper, best first (ties: lower id).

    One sparse matrix-vector product over the TF-IDF rows: milliseconds at 10,000 papers."""
    if paper_id not in index._rows or index.features.shape[1] == 0:
        return []
    i = index.index(paper_id)
    row = np.asarray((index.features @ index.features[i].T).todense()).ravel()
    row[i] = -np.inf
    n = min(n, len(row) - 1)
    if n <= 0:
        return []
    top = np.argpartition(-row, n - 1)[:n]
    top = top[np.lexsort((top, -row[top]))]
    return [(index.ids[j], float(row[j])) for j in top if row[j] >= min_similarity]


# -- term co-occurrence network ----------------------------------------------
@dataclass
class TermNetwork:
    graph: nx.Graph
    params: dict = field(default_factory=dict)


def topic_specificity(counts, papers: Sequence[Paper]) -> np.ndarray:
    """Per term: how far the taxonomy placements of the papers using it are from
    those of all papers (Kullback-Leibler divergence, in nats). Generic words
    ("steps", "image") spread like the catalog does and score near 0; domain terms
    ("quantization", "caching") concentrate in a few nodes. All ones without tags."""
    from scipy.sparse import csr_matrix

    topics = sorted({f"{t}:{node}" for p in papers for t, nodes in p.tags.items() for node in nodes})
    if not topics:
        return np.ones(counts.shape[1])
    column = {topic: i for i, topic in enumerate(topics)}
    pairs = [(i, column[f"{t}:{node}"]) for i, p in enumerate(papers) for t, nodes in p.tags.items() for node in nodes]
    placed = csr_matrix((np.ones(len(pairs)), tuple(zip(*pairs))), shape=(len(papers), len(topics)))
    joint = np.asarray((counts.T @ placed).todense())  # term x topic
    given_term = joint / np.maximum(joint.sum(axis=1, keepdims=True), 1)
    background = np.asarray(placed.sum(axis=0)).ravel() / placed.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(given_term > 0, given_term * np.log(given_term / background), 0.0)
    return terms.sum(axis=1)


def build_term_network(papers: Iterable[Paper], n_terms: int = 60, min_cooccurrence: int = 2,
                       k: int = 10, vocabulary: Iterable[str] = ()) -> TermNetwork:
    """The n_terms most domain-specific terms (single words and two-word phrases),
    linked by co-occurrence in the same paper; edge weight = association strength
    c_ij * N / (n_i * n_j), at most k strongest edges per term.

    A term's score is the number of papers using it times its topic specificity
    (see topic_specificity), doubled for the words of the catalog's keyword
    `vocabulary`: counting papers alone put "steps", "replaces" and "space" on
    top and no quantization, caching or consistency in the first 60."""
    from sklearn.feature_extraction.text import CountVectorizer

    papers = list(papers)
    texts = [paper_text(p) for p in papers]
    graph = nx.Graph()
    params = {"n_terms": n_terms, "min_cooccurrence": min_cooccurrence, "k": k}
    if not texts:
        return TermNetwork(graph, params)
    vectorizer = CountVectorizer(stop_words=_stop_words(), token_pattern=TOKEN_PATTERN, ngram_range=(1, 2),
                                 binary=True, min_df=2 if len(texts) >= 10 else 1, max_df=0.6 if len(texts) >= 30 else 1.0)
    try:
        counts = vectorizer.fit_transform(texts).tocsc()
    except ValueError:
        return TermNetwork(graph, params)
    names = vectorizer.get_feature_names_out()
    df = np.asarray(counts.sum(axis=0)).ravel()
    domain = {w for term in vocabulary for w in [term, *term.replace("/", " ").split()]}
    boost = np.array([2.0 if name in domain else 1.0 for name in names])
    score = df * topic_specificity(counts, papers) * boost
    order = np.lexsort((names, -score))[:n_terms]
    chosen = counts[:, order]
    cooc = (chosen.T @ chosen).toarray().astype(float)
    freq = np.diag(cooc).copy()
    np.fill_diagonal(cooc, 0.0)
    n_docs = len(texts)
    with np.errstate(divide="ignore", invalid="ignore"):
        strength = cooc * n_docs / np.outer(freq, freq)
    strength[~np.isfinite(strength)] = 0.0
    labels = [str(names[t]) for t in order]
    for label, f in zip(labels, freq):
        graph.add_node(label, occurrences=int(f))
    for i in range(len(labels)):
        candidates = np.flatnonzero(cooc[i] >= min_cooccurrence)
        best = candidates[np.argsort(-strength[i, candidates], kind="stable")[:k]]
        for j in best:
            graph.add_edge(labels[i], labels[j], weight=float(strength[i, j]), cooccurrences=int(cooc[i, j]))
    return TermNetwork(graph, params)


def term_cluster_table(graph: nx.Graph, clusters: dict[str, int]) -> pd.DataFrame:
    rows = []
    members: dict[int, list[str]] = {}
    for term, c in clusters.items():
        members.setdefault(c, []).append(term)
    for c in sorted(members):
        terms = sorted(members[c], key=lambda t: (-graph.nodes[t]["occurrences"], t))
        rows.append({"cluster": c + 1 if c >= 0 else 0, "terms": len(terms), "top terms": ", ".join(terms[:10]),
                     "occurrences": sum(graph.nodes[t]["occurrences"] for t in terms)})
    return pd.DataFrame(rows, columns=["cluster", "terms", "top terms", "occurrences"])


# -- exports -----------------------------------------------------------------
def to_vosviewer_json(graph: nx.Graph, clusters: dict[str, int], positions: dict[str, tuple[float, float]],
                      kind: str = "paper") -> dict:
    """The map in VOSviewer's JSON format ({"network": {"items": [...], "links": [...]}}).

    VOSviewer shows `description` as HTML, so it is escaped here.
    """
    ids = {node: i + 1 for i, node in enumerate(sorted(graph.nodes))}
    strength = dict(graph.degree(weight="weight"))
    items = []
    for node, number in ids.items():
        data = graph.nodes[node]
        x, y = positions.get(node, (0.0, 0.0))
        item = {
            "id": number, "label": node if kind == "term" else plain(data.get("title", node), 80),
            "x": round(x / 100.0, 4), "y": round(-y / 100.0, 4),
            "cluster": clusters.get(node, -1) + 1 if clusters.get(node, -1) >= 0 else len(set(clusters.values())) + 1,
            "weights": {"Links": graph.degree(node), "Total link strength": round(strength.get(node, 0.0), 4)},
        }
        if kind == "paper":
            item["description"] = f"<b>{esc(data.get('title', ''))}</b><br>{esc(data.get('venue', ''))} {esc(data.get('year') or '')}"
            if data.get("year"):
                item["scores"] = {"Pub. year": data["year"]}
            if safe_url(data.get("url")):
                item["url"] = data["url"]
            item["paper_id"] = node
        else:
            item["weights"]["Occurrences"] = data.get("occurrences", 0)
        items.append(item)
    links = [{"source_id": ids[a], "target_id": ids[b], "strength": round(d.get("weight", 1.0), 4)}
             for a, b, d in sorted(graph.edges(data=True))]
    return {"network": {"items": items, "links": links}}


def to_graphml(graph: nx.Graph, clusters: dict[str, int], positions: dict[str, tuple[float, float]]) -> str:
    """GraphML with scalar attributes only (None becomes empty / -1) so every reader accepts it."""
    out = nx.Graph()
    for node, data in graph.nodes(data=True):
        x, y = positions.get(node, (0.0, 0.0))
        attrs = {"cluster": int(clusters.get(node, -1) + 1 if clusters.get(node, -1) >= 0 else 0), "x": float(x), "y": float(y)}
        for key, value in data.items():
            if key == "url":
                value = safe_url(value) or ""
            if value is None:
                value = -1 if key == "year" else ""
            if isinstance(value, (str, int, float, bool)):
                attrs[key] = value
        out.add_node(node, **attrs)
    for a, b, data in graph.edges(data=True):
        out.add_edge(a, b, **{k: float(v) for k, v in data.items() if isinstance(v, (int, float))})
    return "\n".join(nx.generate_graphml(out)) + "\n"


# -- HTML rendering (vis-network, inlined, with the data written directly) ------
_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>diffatlas map</title>
<style>
{% include 'lib/vis-9.1.2/vis-network.css' %}
html, body { margin: 0; padding: 0; font-family: "Source Sans Pro", sans-serif; background: #ffffff; }
#mynetwork { width: 100%; height: {{ height }}px; border: 1px solid #e6e6e6; box-sizing: border-box; }
#info { font-size: 13px; color: #333; min-height: 1.4em; padding: 4px 6px; white-space: pre-wrap; }
#legend { font-size: 12px; color: #333; padding: 2px 6px; line-height: 1.7; }
#legend .item { display: inline-block; margin-right: 14px; white-space: nowrap; }
#legend .swatch { display: inline-block; width: 11px; height: 11px; border-radius: 6px; margin-right: 4px;
                  vertical-align: -1px; border: 1px solid #999; }
div.vis-tooltip { white-space: pre-wrap; max-width: 420px; font-size: 13px; }
</style>
<script>{% include 'lib/vis-9.1.2/vis-network.min.js' %}</script>
</head>
<body>
<div id="mynetwork"></div>
<div id="legend">{{ legend|safe }}</div>
<div id="info">{{ note }}Hover a node for details; click one to pin them here. Scroll to zoom, drag to pan.</div>
<script>
  var nodes = new vis.DataSet({{ nodes|tojson }});
  var edges = new vis.DataSet({{ edges|tojson }});
  var options = {{ options|tojson }};
  var network = new vis.Network(document.getElementById("mynetwork"), {nodes: nodes, edges: edges}, options);
  var clusterLabels = {{ cluster_labels|tojson }};
  network.on("afterDrawing", function (ctx) {  // cluster names: canvas text, the same size at every zoom
    var s = network.getScale();
    ctx.save();
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.font = "bold " + (15 / s) + "px sans-serif";
    ctx.lineWidth = 4 / s;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    clusterLabels.forEach(function (c) {
      ctx.strokeText(c.label, c.x, c.y);
      ctx.fillStyle = c.color;
      ctx.fillText(c.label, c.x, c.y);
    });
    ctx.restore();
  });
  network.once("afterDrawing", function () { document.body.setAttribute("data-rendered", "1"); });
  network.on("click", function (params) {
    var info = document.getElementById("info");
    if (params.nodes.length) {
      var node = nodes.get(params.nodes[0]);
      info.textContent = node.title || node.label;  // text only: never parsed as HTML
      if (typeof node.link === "string" && /^https?:[/][/]/i.test(node.link)) {  // checked in Python too
        var a = document.createElement("a");  // built with DOM calls, http(s) only
        a.href = node.link;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        a.textContent = "open the paper";
        info.appendChild(document.createElement("br"));
        info.appendChild(a);
      }
    }
  });
</script>
</body>
</html>
"""

LABELLED_PAPERS = 120  # the most connected papers carry a label; the rest show theirs on hover
DRAWN_EDGES_PER_NODE = 3  # above 2,000 nodes only each paper's strongest links are drawn (all are kept in exports)


def _environment():
    import pyvis
    from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader

    pyvis_templates = Path(pyvis.__file__).parent / "templates"  # vis-network's files, shipped with pyvis
    return Environment(loader=ChoiceLoader([
        DictLoader({"diffatlas_map.html": _TEMPLATE}),
        FileSystemLoader(str(pyvis_templates)),
    ]), autoescape=False)


def _options(large: bool) -> dict:
    """Positions come from Python, so physics is off. Labels scale with a node's value
    and are not drawn below `drawThreshold` pixels: zoomed out, only the most
    connected papers and the cluster names stay readable."""
    return {
        "physics": {"enabled": False},
        "interaction": {"hover": True, "tooltipDelay": 80, "hideEdgesOnDrag": True, "hideEdgesOnZoom": large,
                        "navigationButtons": False},
        "nodes": {"shape": "dot", "borderWidth": 1,
                  "font": {"color": "#222222", "strokeWidth": 3, "strokeColor": "#ffffff"},
                  "scaling": {"min": 4, "max": 26, "label": {"enabled": True, "min": 9, "max": 26,
                                                            "drawThreshold": 7, "maxVisible": 40}}},
        "edges": {"smooth": False, "color": {"color": "#bbbbbb", "highlight": "#555555", "opacity": 0.5}},
        "layout": {"improvedLayout": False},
    }


def paper_label(node: str, data: dict, width: int = 28) -> str:
    """The method's name where the catalog has one, else the title up to its colon, shortened."""
    name = data.get("name") or str(data.get("title") or node).split(":")[0]
    return plain(name, width)


def cluster_names(network: PaperNetwork, clusters: dict[str, int], n_terms: int = 3) -> dict[int, str]:
    """cluster -> its top TF-IDF terms, for the labels and legend of the map."""
    names = {}
    for row in cluster_table(network, clusters, n_terms=n_terms).itertuples():
        if row.cluster > 0:
            names[row.cluster - 1] = row._3 or f"cluster {row.cluster}"
    return names


def distinct_terms(terms: str, n: int = 3) -> str:
    """The first n of a cluster's comma-separated top terms that share no word with an earlier one
    ("distillation, one-step, one-step generation" reads "distillation, one-step")."""
    chosen, seen = [], set()
    for term in (t.strip() for t in terms.split(",")):
        words = set(term.split())
        if term and not words & seen:
            chosen.append(term)
            seen |= words
    return ", ".join(chosen[:n])


def _legend(clusters: dict[str, int], names: dict[int, str]) -> str:
    """Colour -> cluster, as escaped HTML: the coloured clusters, then 'other'."""
    sizes: dict[int, int] = {}
    for c in clusters.values():
        key = c if 0 <= c < len(PALETTE) else -1
        sizes[key] = sizes.get(key, 0) + 1
    items = []
    for c in sorted(k for k in sizes if k >= 0):
        label = f"{c + 1}: {names.get(c, f'cluster {c + 1}')} ({sizes[c]})"
        items.append((PALETTE[c], label))
    if sizes.get(-1):
        items.append((UNCLUSTERED_COLOR, f"other and small clusters ({sizes[-1]})"))
    return "".join(f'<span class="item"><span class="swatch" style="background:{color}"></span>{esc(label)}</span>'
                   for color, label in items)


def _faded(color: str, amount: float = 0.75) -> str:
    """A colour mixed with white, for the papers outside a highlighted selection."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(v + (255 - v) * amount):02x}" for v in (r, g, b))


def _shaded(color: str, amount: float = 0.35) -> str:
    """A colour mixed with black, so a cluster's label reads on white."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(v * (1 - amount)):02x}" for v in (r, g, b))


def _paper_node(node: str, data: dict, degree: int, cluster: int, labelled: bool, highlight) -> dict:
    meta = " \u00b7 ".join(str(v) for v in (data.get("year"), data.get("venue")) if v)
    where = f"cluster {cluster + 1}" if cluster >= 0 else "unclustered"
    title = "\n".join(part for part in (plain(data.get("title", node), 160), meta, f"{where}, {degree} links") if part)
    color = cluster_color(cluster)
    out = {"id": node, "title": title, "value": degree + 1, "color": color}
    if labelled:
        out["label"] = paper_label(node, data)
    if highlight is not None:
        if node in highlight:
            out.update(color={"background": color, "border": "#111111"}, borderWidth=3, value=degree + 8)
        else:
            out["color"] = _faded(color)
    link = safe_url(data.get("url"))
    if link:
        out["link"] = link
    return out


def _cluster_labels(clusters, positions, names) -> list[dict]:
    """One label per coloured cluster at the median position of its papers, drawn
    on the canvas by the page (text only, above the nodes, never in the way of a click)."""
    members: dict[int, list[tuple[float, float]]] = {}
    for node, c in clusters.items():
        if 0 <= c < len(PALETTE) and node in positions:
            members.setdefault(c, []).append(positions[node])
    out = []
    for c, points in sorted(members.items()):
        x, y = np.median(np.array(points), axis=0)
        out.append({"label": plain(f"{c + 1}: {names.get(c, f'cluster {c + 1}')}", 48), "x": round(float(x), 1),
                    "y": round(float(y), 1), "color": _shaded(PALETTE[c])})
    return out


def _drawn_edges(graph: nx.Graph, per_node: int) -> list[tuple]:
    """Each node's `per_node` strongest edges (an edge stays if either end keeps it)."""
    kept = set()
    for node in graph.nodes:
        strongest = sorted(graph[node].items(), key=lambda item: -item[1].get("weight", 1.0))[:per_node]
        kept.update(tuple(sorted((node, other))) for other, _ in strongest)
    return sorted(kept)


def render_html(graph: nx.Graph, clusters: dict[str, int], positions: dict[str, tuple[float, float]],
                kind: str = "paper", height: int = 640, names: dict[int, str] | None = None,
                highlight: set[str] | None = None) -> str:
    """A self-contained HTML page (vis-network inlined) drawing the map, with a legend.

    names: cluster -> label (its top terms), drawn at the cluster's centre (canvas
    text) and in the legend; highlight: paper ids drawn with a dark border, the rest faded.
    The node and edge arrays are written straight into the page (pyvis's
    add_edge scanned its edge list: O(E^2), 36 s at 8,224 papers). Every
    catalog string goes into node `title` / `label` as plain text: Jinja's
    `tojson` escapes <, > and &, vis-network shows string titles with
    innerText, and the legend is escaped with htmlsafe.esc.
    """
    names = {c: distinct_terms(v) for c, v in (names or {}).items()}
    degree = dict(graph.degree())
    large = graph.number_of_nodes() > 2000
    labelled = set(sorted(degree, key=lambda n: (-degree[n], n))[:LABELLED_PAPERS]) if kind == "paper" else set(graph)
    nodes = []
    for node, data in graph.nodes(data=True):
        x, y = positions.get(node, (0.0, 0.0))
        c = clusters.get(node, -1)
        if kind == "paper":
            item = _paper_node(node, data, degree.get(node, 0), c, node in labelled, highlight)
        else:
            item = {"id": node, "label": plain(node, 40), "value": data.get("occurrences", 1), "color": cluster_color(c),
                    "title": f"{plain(node)}\n{data.get('occurrences', 0)} papers \u00b7 "
                             f"{f'cluster {c + 1}' if c >= 0 else 'unclustered'}"}
        nodes.append({**item, "x": round(x, 1), "y": round(y, 1)})
    pairs = _drawn_edges(graph, DRAWN_EDGES_PER_NODE) if large else list(graph.edges())
    max_weight = max((d.get("weight", 1.0) for _, _, d in graph.edges(data=True)), default=1.0) or 1.0
    edges = [{"from": a, "to": b, "width": round(0.5 + 2.5 * graph[a][b].get("weight", 1.0) / max_weight, 2)}
             for a, b in pairs]
    note = (f"Showing each paper's {DRAWN_EDGES_PER_NODE} strongest of {graph.number_of_edges()} links. "
            if large and len(edges) < graph.number_of_edges() else "")
    return _environment().get_template("diffatlas_map.html").render(
        nodes=nodes, edges=edges, options=_options(large), height=height, note=esc(note),
        cluster_labels=_cluster_labels(clusters, positions, names) if kind == "paper" else [],
        legend=_legend(clusters, names))
