"""The map at scale, tested small: generated catalogs of a few hundred papers.

The 10,000-paper measurement is `app/bench.py` on `benchmarks/generate_catalog.py`'s output;
here: the sparse network equals the dense computation, the HTML carries labels and a legend,
and a new resolution re-clusters without a new layout.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from benchmarks.generate_catalog import generate
from diffatlas import explore, maps
from diffatlas.catalog import load_catalog
from tests.conftest import REPO


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = generate(tmp_path_factory.mktemp("generated") / "catalog", n=200, seed=1)
    return out


@pytest.fixture(scope="module")
def papers(generated):
    catalog = load_catalog(generated, REPO / "taxonomy")
    assert not catalog.problems, catalog.problems[:3]  # every generated entry is valid
    return explore.research_papers(catalog)


def dense_edges(features, ids, k, min_similarity):
    """The former computation: the full cosine matrix, each row's k strongest above the threshold."""
    similarity = (features @ features.T).toarray()
    np.fill_diagonal(similarity, 0.0)
    edges = {}
    for i in range(len(ids)):
        candidates = np.flatnonzero(similarity[i] >= max(min_similarity, 1e-9))
        for j in candidates[np.argsort(-similarity[i, candidates], kind="stable")[:k]]:
            edges[frozenset((ids[i], ids[j]))] = similarity[i, j]
    return edges


def test_generator_is_deterministic_and_realistic(generated, tmp_path):
    again = generate(tmp_path / "again", n=200, seed=1)
    first = sorted(p.name for p in (generated / "papers").iterdir())
    assert first == sorted(p.name for p in (again / "papers").iterdir()) and len(first) == 200
    assert (generated / "papers" / first[7]).read_text() == (again / "papers" / first[7]).read_text()


@pytest.mark.parametrize("k, min_similarity", [(4, 0.05), (8, 0.1)])
def test_sparse_network_equals_the_dense_computation(papers, k, min_similarity):
    net = maps.build_paper_network(papers, k=k, min_similarity=min_similarity)
    expected = dense_edges(net.features, net.ids, k, min_similarity)
    got = {frozenset((a, b)): d["cosine"] for a, b, d in net.graph.edges(data=True)}
    assert got.keys() == expected.keys()
    assert all(got[e] == pytest.approx(expected[e], abs=1e-6) for e in got)
    # similar papers are the dense matrix's best rows too
    similarity = (net.features @ net.features.T).toarray()
    np.fill_diagonal(similarity, -1.0)
    i = 17
    best = [net.ids[j] for j in np.argsort(-similarity[i], kind="stable")[:5]]
    assert [pid for pid, _ in maps.similar_papers(net, net.ids[i], n=5, min_similarity=0.0)] == best


def test_nearest_neighbours_never_lists_a_paper_as_its_own(papers):
    net = maps.build_paper_network(papers)
    rows = np.arange(len(net.ids))[:, None]
    assert not (net.neighbours == rows).any()
    assert (np.diff(net.cosines, axis=1) <= 1e-9).all()  # best first


def test_html_has_labels_a_legend_and_distinct_colours(papers):
    net = maps.build_paper_network(papers)
    clusters = maps.louvain_clusters(net.graph, 1.0)
    names = maps.cluster_names(net, clusters)
    html = maps.render_html(net.graph, clusters, maps.layout(net.graph), names=names)
    data = html[html.index("var nodes = new vis.DataSet"):]
    nodes = json.loads(re.search(r"new vis.DataSet\((\[.*?\])\);", data).group(1))
    labelled = [n for n in nodes if n.get("label")]
    assert 0 < len(labelled) <= maps.LABELLED_PAPERS
    named = {p.id: p.name for p in papers}
    assert all(n["label"] == named[n["id"]] for n in labelled if named[n["id"]])  # the method's name
    degree = dict(net.graph.degree())
    assert min(degree[n["id"]] for n in labelled) >= sorted(degree.values())[-len(labelled)]  # the most connected
    labels = json.loads(re.search(r"var clusterLabels = (\[.*?\]);", data).group(1))
    assert len(labels) == min(maps.cluster_count(clusters), len(maps.PALETTE))
    assert labels[0]["label"].startswith("1: " + names[0][:20])
    legend = re.search(r'<div id="legend">(.*?)</div>', html, re.S).group(1)
    assert legend.count('class="swatch"') == len(labels) + (1 if any(c < 0 or c >= len(maps.PALETTE)
                                                                      for c in clusters.values()) else 0)
    assert len(set(maps.PALETTE)) == len(maps.PALETTE) and maps.UNCLUSTERED_COLOR not in maps.PALETTE
    assert '"drawThreshold"' in html  # labels thin out when zoomed out


def test_highlight_marks_the_selection_and_fades_the_rest(papers):
    net = maps.build_paper_network(papers)
    clusters = maps.louvain_clusters(net.graph, 1.0)
    chosen = set(net.ids[:5])
    html = maps.render_html(net.graph, clusters, maps.layout(net.graph), highlight=chosen)
    nodes = json.loads(re.search(r"new vis.DataSet\((\[.*?\])\);", html[html.index("var nodes"):]).group(1))
    marked = {n["id"] for n in nodes if isinstance(n["color"], dict)}
    assert marked == chosen


def test_a_new_resolution_reuses_the_layout(make_app, generated, monkeypatch):
    calls = []
    real_layout = maps.layout
    monkeypatch.setattr(maps, "layout", lambda *a, **kw: calls.append(1) or real_layout(*a, **kw))
    at = make_app(generated, REPO / "taxonomy", timeout=120)
    at.run()
    at.switch_page("views/map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(calls) == 1
    before = {m.label: m.value for m in at.metric}["Clusters"]
    at.slider(key="map_resolution").set_value(2.5).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(calls) == 1  # re-clustered and redrawn, not laid out again
    assert {m.label: m.value for m in at.metric}["Clusters"] != before


def test_term_map_top_terms_are_domain_terms_on_the_real_catalog():
    catalog = load_catalog(REPO / "catalog", REPO / "taxonomy")
    terms = set(maps.build_term_network(explore.research_papers(catalog), n_terms=60,
                                        vocabulary=catalog.keywords).graph.nodes)
    assert {"quantization", "caching", "distillation"} <= terms
    assert not {"steps", "replaces", "maps"} & terms  # the generic words the issue saw on top


def test_a_new_papers_selection_turns_restrict_on_and_is_highlighted_on_the_full_map(make_app):
    at = make_app()
    at.run()
    at.switch_page("views/papers.py").run()
    at.text_input(key="papers_query").set_value("solver").run()
    at.switch_page("views/map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.toggle(key="map_restrict").value is True  # arriving with a new selection maps it
    assert {m.label: m.value for m in at.metric}["Papers"] == "2"
    at.toggle(key="map_restrict").set_value(False).run()
    srcdoc = next(e.proto.srcdoc for e in at.get("iframe"))
    assert srcdoc.count('"border": "#111111"') == 2  # the two selected papers, on the map of all
    assert "have a dark border" in " ".join(c.value for c in at.caption)
