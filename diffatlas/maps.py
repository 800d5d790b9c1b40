"""Bibliometric maps of the catalog: paper similarity and term co-occurrence.

The paper map follows the recipe of science-mapping tools such as VOSviewer,
kept small enough to read top to bottom:

1. **Features.** Each paper's title, summary and keywords become a TF-IDF
   vector (scikit-learn), with English and corpus-wide stop words removed.
2. **Similarity network.** Cosine similarity between the vectors; every paper
   keeps edges to its `k` most similar papers whose cosine is at least
   `min_similarity` (so the edge count is capped at k per node). Optionally
   the similarities are normalised by *association strength*,
   s_ij * total / (s_i * s_j), which VOSviewer uses so that papers with
   many generic neighbours do not dominate.
3. **Clusters.** Louvain community detection (networkx) with a resolution
   parameter: higher resolution, more and smaller clusters (the Ulhaq survey
   tunes its clustering the same way). Reproducible through `seed`.
4. **Layout.** Computed in Python (networkx's force-directed spring layout,
   seeded), so the browser only draws; physics is switched off.
5. **Reading the map.** A table of clusters with their top terms, size and
   most central paper; the agreement between clusters and each taxonomy's
   top level as normalised mutual information and adjusted Rand index.

The term map does the same with terms as nodes: terms that appear in many
papers, linked by how often two terms appear in the same paper (association
strength again).

Both maps export to VOSviewer's JSON format and to GraphML, and render to a
self-contained HTML page through pyvis with a template of our own, whose
JavaScript is inlined from the installed pyvis package (no CDN, works offline).
"""

from __future__ import annotations

import json
import math
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
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#17becf",
]
UNCLUSTERED_COLOR = "#c8c8c8"


def cluster_color(cluster: int) -> str:
    return PALETTE[cluster % len(PALETTE)] if cluster >= 0 else UNCLUSTERED_COLOR


def paper_text(paper: Paper) -> str:
    return " ".join([paper.title, paper.summary, " ".join(paper.keywords), " ".join(paper.keywords)])


def _stop_words() -> list[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(set(ENGLISH_STOP_WORDS) | DOMAIN_STOP_WORDS)


# -- paper similarity network -------------------------------------------------
@dataclass
class PaperNetwork:
    """The similarity network of a set of papers, before clustering."""

    ids: list[str]
    graph: nx.Graph
    features: object  # scipy sparse TF-IDF matrix, rows in `ids` order
    terms: np.ndarray
    similarity: np.ndarray  # dense cosine similarity, zero diagonal
    params: dict = field(default_factory=dict)

    def index(self, paper_id: str) -> int:
        return self.ids.index(paper_id)


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


def association_strength(matrix: np.ndarray) -> np.ndarray:
    """VOSviewer's normalisation: observed weight over the weight expected from totals."""
    totals = matrix.sum(axis=1)
    grand = totals.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = matrix * grand / np.outer(totals, totals)
    out[~np.isfinite(out)] = 0.0
    return out


def build_paper_network(papers: Iterable[Paper], k: int = 8, min_similarity: float = 0.1,
                        normalization: str = "cosine") -> PaperNetwork:
    """TF-IDF cosine similarity network with at most k strongest edges per paper.

    normalization: "cosine" keeps cosine similarities as edge weights;
    "association" ranks and weights edges by association strength. Either way
    an edge needs a cosine similarity of at least `min_similarity`.
    """
    papers = sorted(papers, key=lambda p: p.id)
    ids = [p.id for p in papers]
    features, terms = tfidf_features([paper_text(p) for p in papers])
    n = len(ids)
    if n and features.shape[1]:
        similarity = (features @ features.T).toarray()
    else:
        similarity = np.zeros((n, n))
    np.fill_diagonal(similarity, 0.0)
    weights = association_strength(similarity) if normalization == "association" else similarity
    graph = nx.Graph()
    for p in papers:
        graph.add_node(p.id, title=p.title, name=p.name or "", year=p.year, venue=p.venue or "", url=safe_url(p.url),
                       kind=p.kind)
    for i in range(n):
        candidates = np.flatnonzero(similarity[i] >= max(min_similarity, 1e-9))
        if candidates.size == 0:
            continue
        best = candidates[np.argsort(-weights[i, candidates], kind="stable")[:k]]
        for j in best:
            graph.add_edge(ids[i], ids[j], weight=float(weights[i, j]), cosine=float(similarity[i, j]))
    params = {"k": k, "min_similarity": min_similarity, "normalization": normalization}
    return PaperNetwork(ids, graph, features, terms, similarity, params)


def louvain_clusters(graph: nx.Graph, resolution: float = 1.0, seed: int = 0,
                     min_size: int = 2) -> dict[str, int]:
    """node -> cluster number (0 = largest); nodes in clusters smaller than min_size get -1."""
    if graph.number_of_nodes() == 0:
        return {}
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
    communities = sorted((sorted(c) for c in communities), key=lambda c: (-len(c), c[0]))
    out: dict[str, int] = {}
    number = 0
    for members in communities:
        if len(members) < min_size:
            for m in members:
                out[m] = -1
            continue
        for m in members:
            out[m] = number
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
    stretched horizontally by `aspect` to fill a wide canvas."""
    if graph.number_of_nodes() == 0:
        return {}
    n = graph.number_of_nodes()
    # Fruchterman-Reingold costs O(n^2) per iteration (and networkx uses a slower
    # sparse variant above 500 nodes), so big catalogs get fewer iterations:
    # about 0.25 s for 300 papers, 1.2 s for 600, 2.5 s for 1200 on 2 busy cores.
    iterations = 80 if n <= 500 else max(20, int(80 * 500 / n))
    pos = nx.spring_layout(graph, weight="weight", seed=seed, iterations=iterations,
                           k=1.6 / math.sqrt(max(n, 1)), scale=1.0, method="force")
    return {node: (float(x) * scale * aspect, float(y) * scale) for node, (x, y) in pos.items()}


def cluster_table(network: PaperNetwork, clusters: dict[str, int], n_terms: int = 6) -> pd.DataFrame:
    """Per cluster: size, top TF-IDF terms, and the most central paper (highest intra-cluster strength)."""
    rows = []
    index = {pid: i for i, pid in enumerate(network.ids)}
    members: dict[int, list[str]] = {}
    for pid, c in clusters.items():
        if c >= 0:
            members.setdefault(c, []).append(pid)
    for c in sorted(members):
        ids = sorted(members[c])
        idx = [index[p] for p in ids]
        terms = ""
        if network.features.shape[1]:
            mean = np.asarray(network.features[idx].mean(axis=0)).ravel()
            top = np.argsort(-mean, kind="stable")[:n_terms]
            terms = ", ".join(str(network.terms[t]) for t in top if mean[t] > 0)
        sub = network.graph.subgraph(ids)
        strength = dict(sub.degree(weight="weight"))
        rep = max(ids, key=lambda p: (strength.get(p, 0.0), sub.degree(p), p))
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


def similar_papers(network: PaperNetwork, paper_id: str, n: int = 5, min_similarity: float = 0.05) -> list[tuple[str, float]]:
    """The n papers with the highest cosine similarity to one paper."""
    if paper_id not in network.ids:
        return []
    i = network.index(paper_id)
    row = network.similarity[i]
    order = np.argsort(-row, kind="stable")
    return [(network.ids[j], float(row[j])) for j in order[:n] if row[j] >= min_similarity and j != i]


# -- term co-occurrence network ----------------------------------------------
@dataclass
class TermNetwork:
    graph: nx.Graph
    params: dict = field(default_factory=dict)


def build_term_network(papers: Iterable[Paper], n_terms: int = 60, min_cooccurrence: int = 2,
                       k: int = 10) -> TermNetwork:
    """Terms (single words and two-word phrases) found in most papers, linked by
    co-occurrence in the same paper; edge weight = association strength
    c_ij * N / (n_i * n_j), at most k strongest edges per term."""
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
    order = np.lexsort((names, -df))[:n_terms]
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


# -- HTML rendering (pyvis with an offline template) ---------------------------
_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>diffatlas map</title>
<style>
{% include 'lib/vis-9.1.2/vis-network.css' %}
html, body { margin: 0; padding: 0; font-family: "Source Sans Pro", sans-serif; background: {{ bgcolor }}; }
#mynetwork { width: 100%; height: {{ height }}; border: 1px solid #e6e6e6; box-sizing: border-box; }
#info { font-size: 13px; color: #333; min-height: 1.4em; padding: 4px 6px; white-space: pre-wrap; }
div.vis-tooltip { white-space: pre-wrap; max-width: 420px; font-size: 13px; }
</style>
<script>{% include 'lib/vis-9.1.2/vis-network.min.js' %}</script>
</head>
<body>
<div id="mynetwork"></div>
<div id="info">Hover a node for details; click one to pin them here. Scroll to zoom, drag to pan.</div>
<script>
  var nodes = new vis.DataSet({{ nodes|tojson }});
  var edges = new vis.DataSet({{ edges|tojson }});
  var options = {{ options|safe }};
  var network = new vis.Network(document.getElementById("mynetwork"), {nodes: nodes, edges: edges}, options);
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


def _environment():
    import pyvis
    from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader

    pyvis_templates = Path(pyvis.__file__).parent / "templates"
    return Environment(loader=ChoiceLoader([
        DictLoader({"diffatlas_map.html": _TEMPLATE}),
        FileSystemLoader(str(pyvis_templates)),
    ]), autoescape=False)


def _options(physics: bool = False) -> str:
    options = {
        "physics": {"enabled": physics},
        "interaction": {"hover": True, "tooltipDelay": 80, "hideEdgesOnDrag": True, "navigationButtons": False},
        "nodes": {"shape": "dot", "font": {"size": 11, "color": "#222222", "strokeWidth": 3, "strokeColor": "#ffffff"},
                  "borderWidth": 1},
        "edges": {"smooth": False, "color": {"color": "#bbbbbb", "highlight": "#555555", "opacity": 0.55}},
        "layout": {"improvedLayout": False},
    }
    return json.dumps(options)


def render_html(graph: nx.Graph, clusters: dict[str, int], positions: dict[str, tuple[float, float]],
                kind: str = "paper", height: int = 640) -> str:
    """A self-contained HTML page (vis-network inlined) drawing the map.

    Every catalog string goes into node `title` / `label` as plain text: the
    template passes it through Jinja's `tojson` (which escapes <, > and &)
    and vis-network shows string titles with innerText, never as HTML. No
    `href` reaches pyvis, so its innerHTML popup mode is never used.
    """
    from pyvis.network import Network

    net = Network(height=f"{height}px", width="100%", bgcolor="#ffffff", font_color=False,
                  cdn_resources="in_line", notebook=False)
    net.templateEnv = _environment()
    net.path = "diffatlas_map.html"
    degree = dict(graph.degree())
    max_weight = max((d.get("weight", 1.0) for _, _, d in graph.edges(data=True)), default=1.0) or 1.0
    for node, data in graph.nodes(data=True):
        x, y = positions.get(node, (0.0, 0.0))
        c = clusters.get(node, -1)
        cluster_label = f"cluster {c + 1}" if c >= 0 else "unclustered"
        if kind == "paper":
            short = data.get("name") or (node.rsplit("-", 1)[0] if node[-4:].isdigit() else node)  # the method's name
            meta = " \u00b7 ".join(str(v) for v in (data.get("year"), data.get("venue")) if v)
            title = "\n".join(part for part in (plain(data.get("title", node), 160), meta, f"{cluster_label}, {degree.get(node, 0)} links") if part)
            label = plain(short, 28)
            size = 6 + 2.2 * math.sqrt(degree.get(node, 0))
        else:
            title = f"{plain(node)}\n{data.get('occurrences', 0)} papers \u00b7 {cluster_label}"
            label = plain(node, 40)
            size = 5 + 2.5 * math.sqrt(data.get("occurrences", 1))
        # a term map is read by its labels: draw them large enough to show when zoomed out
        font = {"size": 26 if kind == "term" else 11, "color": "#222222"}
        extra = {"link": safe_url(data.get("url"))} if kind == "paper" and safe_url(data.get("url")) else {}
        net.add_node(node, label=label, title=title, x=round(x, 2), y=round(y, 2), size=round(size, 2),
                     color=cluster_color(c), physics=False, font=font, **extra)
    for a, b, data in graph.edges(data=True):
        net.add_edge(a, b, width=round(0.5 + 2.5 * data.get("weight", 1.0) / max_weight, 2))
    net.options = json.loads(_options())
    if any("href" in str(n.get("title", "")) for n in net.nodes):
        # pyvis would switch to its innerHTML popup; break the trigger word instead.
        for n in net.nodes:
            n["title"] = str(n.get("title", "")).replace("href", "hr\u200bef")
    return net.generate_html(notebook=False)


def write_html(html: str, path: Path) -> Path:
    path = Path(path)
    path.write_text(html, encoding="utf-8")
    return path
