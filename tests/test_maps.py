"""Bibliometric maps, catalog views and escaping, tested as plain functions."""

from __future__ import annotations

import io
import json
import re

import networkx as nx
import pytest

from diffatlas import explore, maps
from diffatlas.htmlsafe import esc, html_link, md, md_link, safe_url
from diffatlas.models import Paper

HOSTILE_TITLE = 'Fast <script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2"> href=x Sampling'


def planted(pid: str = "planted-2023", **extra) -> Paper:
    """A paper built without validation, as a fork's catalog or a future field might produce."""
    data = dict(id=pid, title=HOSTILE_TITLE, year=2023, venue="<b>Venue</b>", url="javascript:alert(1)",
                code="JaVaScRiPt:alert(2)", kind="paper", unresolved=False,
                summary="An ODE solver sampler that takes few steps, planted to test escaping.",
                keywords=["ode solver", "few steps"], authors=[], tags={}, listed_in=[], reported=[], notes=[],
                arxiv=None, doi=None, month=None, bibtex_type=None, bibtex_extra={})
    data.update(extra)
    return Paper.model_construct(**data)


@pytest.fixture(scope="module")
def research(fixture_catalog):
    return explore.research_papers(fixture_catalog)


# -- the similarity network -------------------------------------------------------------
def test_network_caps_edges_and_respects_the_minimum_similarity(research):
    net = maps.build_paper_network(research, k=2, min_similarity=0.03)
    assert set(net.graph.nodes) == {p.id for p in research}
    assert net.graph.number_of_edges() <= 2 * len(research)
    assert all(d["cosine"] >= 0.03 for _, _, d in net.graph.edges(data=True))
    # each paper chose at most k neighbours: its strongest ones
    dense = (net.features @ net.features.T).toarray()
    for i, pid in enumerate(net.ids):
        chosen = [j for j in range(len(net.ids)) if j != i and dense[i, j] >= 0.03]
        assert len(chosen) <= 2 or net.graph.degree(pid) >= 2


def test_similar_solvers_are_neighbours(research):
    net = maps.build_paper_network(research, k=3, min_similarity=0.02)
    similar = [pid for pid, _ in maps.similar_papers(net, "dpm-solver-2022", n=3)]
    assert "dpm-solver-pp-2022" in similar
    assert maps.similar_papers(net, "no-such-paper") == []


def test_association_strength_is_symmetric_and_finite(research):
    net = maps.build_paper_network(research, k=4, min_similarity=0.02, normalization="association")
    weights = [d["weight"] for _, _, d in net.graph.edges(data=True)]
    assert weights and all(w > 0 and w == w and w != float("inf") for w in weights)
    dense = (net.features @ net.features.T).toarray()
    dense[range(len(dense)), range(len(dense))] = 0.0
    matrix = maps.association_strength(dense)
    assert (abs(matrix - matrix.T) < 1e-9).all()
    row = net.ids.index
    for a, b, d in net.graph.edges(data=True):  # the sparse computation gives the dense matrix's values
        assert d["weight"] == pytest.approx(matrix[row(a), row(b)], rel=1e-6)


def test_layout_and_clusters_are_reproducible(research):
    net = maps.build_paper_network(research, k=4, min_similarity=0.02)
    assert maps.layout(net.graph, seed=3) == maps.layout(net.graph, seed=3)
    assert maps.louvain_clusters(net.graph, 1.0, seed=3) == maps.louvain_clusters(net.graph, 1.0, seed=3)


def test_resolution_changes_the_number_of_clusters(research):
    net = maps.build_paper_network(research, k=4, min_similarity=0.02)
    counts = [maps.cluster_count(maps.louvain_clusters(net.graph, r, seed=0)) for r in (0.2, 1.0, 2.0)]
    assert counts[0] < counts[2], counts


def test_cluster_table_and_agreement(research):
    net = maps.build_paper_network(research, k=4, min_similarity=0.02)
    clusters = maps.louvain_clusters(net.graph, 1.0, seed=0)
    table = maps.cluster_table(net, clusters)
    assert table["papers"].sum() == len(research)
    named = table[table["cluster"] > 0]
    assert (named["representative id"].isin(net.ids)).all()
    assert named["top terms"].str.len().gt(0).all()
    agreement = maps.taxonomy_agreement(clusters, research, ["ulhaq2022", "shen2025", "ma2024"])
    assert len(agreement) == 6
    assert agreement["NMI"].between(0, 1).all()


def test_empty_and_tiny_inputs_do_not_crash():
    net = maps.build_paper_network([])
    assert net.graph.number_of_nodes() == 0
    assert maps.louvain_clusters(net.graph) == {}
    assert maps.layout(net.graph) == {}
    assert maps.build_term_network([]).graph.number_of_nodes() == 0


# -- the term map ---------------------------------------------------------------------------
def test_term_network(research):
    terms = maps.build_term_network(research, n_terms=25, min_cooccurrence=2)
    graph = terms.graph
    assert 0 < graph.number_of_nodes() <= 25
    assert all(d["cooccurrences"] >= 2 for _, _, d in graph.edges(data=True))
    assert "ode" in graph.nodes or "ode solver" in graph.nodes
    clusters = maps.louvain_clusters(graph, 1.0, min_size=1)
    table = maps.term_cluster_table(graph, clusters)
    assert table["terms"].sum() == graph.number_of_nodes()


# -- exports ----------------------------------------------------------------------------------
def test_vosviewer_json_and_graphml(research):
    papers = research + [planted()]
    net = maps.build_paper_network(papers, k=4, min_similarity=0.02)
    clusters = maps.louvain_clusters(net.graph, 1.0)
    positions = maps.layout(net.graph)
    data = json.loads(json.dumps(maps.to_vosviewer_json(net.graph, clusters, positions)))
    items, links = data["network"]["items"], data["network"]["links"]
    ids = {item["id"] for item in items}
    assert len(items) == len(papers)
    assert all(isinstance(item["cluster"], int) and item["cluster"] >= 1 for item in items)
    assert all(link["source_id"] in ids and link["target_id"] in ids for link in links)
    hostile = next(item for item in items if item["paper_id"] == "planted-2023")
    assert "<script>" not in hostile["description"] and "&lt;script&gt;" in hostile["description"]
    assert "url" not in hostile  # javascript: link dropped
    assert next(i for i in items if i["paper_id"] == "ddim-2021")["url"].startswith("https://")

    graphml = maps.to_graphml(net.graph, clusters, positions)
    back = nx.read_graphml(io.BytesIO(graphml.encode()))
    assert back.number_of_nodes() == len(papers) and back.number_of_edges() == net.graph.number_of_edges()
    assert back.nodes["planted-2023"]["url"] == ""
    assert back.nodes["ddim-2021"]["year"] == 2021


# -- offline, escaped HTML ----------------------------------------------------------------------
def test_map_html_is_self_contained():
    graph = nx.Graph()
    graph.add_node("a-2020", title="A", year=2020, venue="ICLR")
    graph.add_node("b-2021", title="B", year=2021, venue="")
    graph.add_edge("a-2020", "b-2021", weight=0.5)
    html = maps.render_html(graph, {"a-2020": 0, "b-2021": 0}, {"a-2020": (0, 0), "b-2021": (10, 10)})
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "bootstrap" not in html.lower()
    assert len(html) > 300_000  # vis-network is inlined from the installed pyvis package
    assert "vis-network" in html and "new vis.Network" in html
    assert "default-src 'none'" in html  # the page may not load anything from anywhere


def test_hostile_title_and_link_never_become_markup(research):
    papers = research + [planted()]
    net = maps.build_paper_network(papers, k=4, min_similarity=0.02)
    clusters = maps.louvain_clusters(net.graph, 1.0)
    html = maps.render_html(net.graph, clusters, maps.layout(net.graph))
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    data = html[html.index("var nodes = new vis.DataSet"):]  # our data and code, after the inlined library
    assert "javascript:" not in data.lower()
    assert 'class="popup"' not in html and "innerHTML" not in data
    # the title is still there, as JSON-escaped text for vis-network's innerText tooltip
    assert "\\u003cscript\\u003ewindow.__pwned" in html
    assert net.graph.nodes["planted-2023"]["url"] is None
    nodes = json.loads(re.search(r"new vis.DataSet\((\[.*?\])\);", data).group(1))
    links = {n["id"]: n.get("link") for n in nodes}
    assert links["planted-2023"] is None and links["ddim-2021"] == "https://arxiv.org/abs/2010.02502"


# -- escaping helpers -----------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "data:text/html,<script>",
    "file:///etc/passwd", "//evil.example/x", "/relative", "https://", "https://ok.example/\"onmouseover=x",
    "https://ok.example/<script>", "vbscript:x", "", None, 42,
])
def test_safe_url_rejects(url):
    assert safe_url(url) is None
    assert "](" not in md_link("label", url)
    assert "<a" not in html_link("label", url)


def test_safe_url_accepts_http_and_https():
    assert safe_url("https://arxiv.org/abs/2010.02502") == "https://arxiv.org/abs/2010.02502"
    assert safe_url("http://example.org/a?b=c#d") == "http://example.org/a?b=c#d"
    assert md_link("paper", "https://example.org/a_(b)").startswith("[paper](https://example.org/a_%28b%29)")
    assert html_link("<b>x</b>", "https://example.org/") == (
        '<a href="https://example.org/" target="_blank" rel="noopener noreferrer">&lt;b&gt;x&lt;/b&gt;</a>')


def test_markdown_escaping():
    out = md("A $x$ *bold* [link](javascript:alert(1)) <script> :red[x] `code` # h")
    for raw in ("$x$", "*bold*", "[link]", "<script>", ":red[", "`code`"):
        assert raw not in out
    assert md("line\nbreak") == "line break"
    assert esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"


# -- catalog views ---------------------------------------------------------------------------------
def test_filters(fixture_catalog):
    find = lambda **kw: {p.id for p in explore.filter_papers(fixture_catalog, explore.Filters(**kw))}  # noqa: E731
    assert find(query="ODE  Solver") == {"dpm-solver-2022", "dpm-solver-pp-2022"}
    assert find(query="song") == {"ddim-2021"}  # authors are searched
    assert find(nodes=["ma2024:part5.compression", "shen2025:system.parallel"]) == {
        "q-diffusion-2023", "deepcache-2024", "distrifusion-2024"}
    assert find(years=(2024, 2025)) == {"deepcache-2024", "distrifusion-2024", "efficient-diffusion-survey-2025"}
    assert "bert-2019" not in find() and find(kinds=["background"]) == {"bert-2019"}


def test_overlap_crosswalk_and_demos(fixture_catalog):
    overlap = explore.survey_overlap(fixture_catalog)
    assert overlap["papers"].sum() == len(fixture_catalog.papers)
    assert overlap.set_index("surveys").loc["Ulhaq 2022 + Shen 2025 + Ma 2024", "papers"] == 2
    matrix = explore.crosswalk_matrix(fixture_catalog, "ulhaq2022", "shen2025", depth=0)
    assert matrix.loc["eps", "system"] == 2 and matrix.loc["eds", "framework"] == 0
    tree = explore.tree_frame(fixture_catalog, "shen2025")
    assert tree.set_index("id").loc["algorithm.sampling.solver", "value"] == 3
    assert tree.set_index("id").loc["algorithm", "papers"] == 8
    assert explore.node_demo(fixture_catalog.node("shen2025", "algorithm")).demos == [("solvers", "Solver")]
    assert explore.node_demo(fixture_catalog.node("shen2025", "system.parallel")).reason.startswith("Needs several GPUs")
    assert explore.node_demo(fixture_catalog.node("ulhaq2022", "eps")).reason == explore.NO_DEMO_YET


def test_fingerprint_follows_content(tmp_path, fixture_catalog):
    import shutil

    from tests.conftest import FIXTURE_CATALOG, FIXTURE_TAXONOMY

    copy = tmp_path / "cat"
    shutil.copytree(FIXTURE_CATALOG, copy)
    before = explore.catalog_fingerprint(copy, FIXTURE_TAXONOMY)
    assert before == explore.catalog_fingerprint(copy, FIXTURE_TAXONOMY)
    path = copy / "papers" / "ddim-2021.yaml"
    path.write_text(path.read_text().replace("ICLR", "ICLR 2021"))
    assert explore.catalog_fingerprint(copy, FIXTURE_TAXONOMY) != before


def test_library_modules_do_not_import_streamlit_or_torch():
    import subprocess
    import sys

    code = ("import sys, diffatlas.maps, diffatlas.explore, diffatlas.htmlsafe, diffatlas.cli; "
            "print('streamlit' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]


def test_term_map_prefers_domain_terms_to_generic_words(research):
    """Generic words spread over the taxonomy like the catalog does; domain terms concentrate."""
    terms = maps.build_term_network(research, n_terms=8, min_cooccurrence=1, vocabulary=["ode solver", "caching"])
    counts_only = maps.build_term_network(research, n_terms=8, min_cooccurrence=1)
    assert "ode" in terms.graph.nodes or "ode solver" in terms.graph.nodes
    assert set(terms.graph.nodes) != set(counts_only.graph.nodes)
