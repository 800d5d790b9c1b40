"""Bibliometric map: papers by textual similarity, clustered; and the term map."""

import json

import streamlit as st

import appkit
from diffatlas import explore, maps
from diffatlas.htmlsafe import md


@st.cache_data(max_entries=32, show_spinner=False)
def _cluster_table(_network, _clusters, key: str):
    return maps.cluster_table(_network, _clusters)


@st.cache_data(max_entries=32, show_spinner=False)
def _paper_map_html(_graph, _clusters, _positions, _table, key: str, highlight: tuple[str, ...]) -> str:
    names = {int(row["cluster"]) - 1: row["top terms"] for _, row in _table.iterrows() if row["cluster"] > 0}
    return maps.render_html(_graph, _clusters, _positions, names=names, highlight=set(highlight) or None)


catalog = appkit.get_catalog()
st.title("Bibliometric map")
appkit.problems_banner(catalog)

# -- which papers, which view ------------------------------------------------------------
selection = st.session_state.get("papers_selection")
c1, c2, c3 = st.columns([2, 2, 1.3], vertical_alignment="bottom")
# One view at a time (not tabs): each map carries ~0.7 MB of inlined JavaScript.
view = c1.segmented_control("View", ["papers", "terms"], default="papers", key="map_view",
                            format_func={"papers": "Paper similarity map", "terms": "Term co-occurrence map"}.get)
include_bg = c3.toggle("Include background works", value=False, key="map_bg")
papers = explore.research_papers(catalog, include_background=include_bg)
restrict = False
# A selection the map has not seen yet (the user comes from the Papers page, e.g. by 'Map this
# selection') turns the toggle on, when it is a real subset of the map.
subset = bool(selection and selection["ids"]) and len(set(selection["ids"]) & {p.id for p in papers}) < len(papers)
if selection != st.session_state.get("map_seen_selection"):
    st.session_state["map_seen_selection"] = selection
    st.session_state["map_restrict"] = subset
if selection and selection["ids"]:
    restrict = c2.toggle(f"Only the Papers page's selection ({len(selection['ids'])} papers)", key="map_restrict",
                         help=selection["description"])
else:
    c2.caption("Filters set on the Papers page can restrict this map.")
if restrict:
    wanted = set(selection["ids"])
    papers = [p for p in papers if p.id in wanted]
ids = tuple(sorted(p.id for p in papers))
if len(ids) < 2:
    st.info("The map needs at least two papers.")
    st.stop()

if view != "terms":
    with st.container(border=True):
        s1, s2, s3, s4, s5 = st.columns([3, 3, 3, 3, 2])
        resolution = s1.slider("Cluster resolution", 0.2, 3.0, 1.0, 0.1, key="map_resolution",
                               help="Louvain resolution: higher gives more, smaller clusters")
        k = s2.slider("Neighbours per paper (k)", 2, 20, appkit.DEFAULT_MAP["k"], key="map_k",
                      help="Each paper keeps edges to at most k most similar papers")
        min_similarity = s3.slider("Minimum similarity", 0.0, 0.5, appkit.DEFAULT_MAP["min_similarity"], 0.01,
                                   key="map_min_sim", help="Cosine similarity an edge needs at least")
        normalization = s4.selectbox("Edge weights", ["cosine", "association"], key="map_norm",
                                 format_func={"cosine": "cosine similarity",
                                              "association": "association strength (VOSviewer)"}.get,
                                     help="Association strength divides each similarity by what the two papers' "
                                          "total similarities would predict, so generic papers do not dominate")
        seed = s5.number_input("Seed", 0, 10_000, 0, key="map_seed", help="Seeds the layout and the clustering")

    key = f"{appkit.fingerprint()}:{hash(ids)}:{k}:{min_similarity}:{normalization}:{seed}"
    # on the full map, the Papers page's selection is highlighted
    highlight = tuple(sorted(selection["ids"])) if subset and not restrict else ()
    with appkit.Timer() as timer:
        # cached on the catalog and these settings: a new resolution re-clusters and redraws only
        network, positions = appkit.paper_network(catalog, appkit.fingerprint(), ids, k, min_similarity, normalization, int(seed))
        clusters = appkit.clusters_for(network, key, resolution, int(seed))
        table = _cluster_table(network, clusters, f"{key}:{resolution}")
        html = _paper_map_html(network.graph, clusters, positions, table, f"{key}:{resolution}", highlight)
    graph = network.graph
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Papers", graph.number_of_nodes())
    m2.metric("Links", graph.number_of_edges())
    m3.metric("Clusters", maps.cluster_count(clusters), help="Clusters of two or more papers")
    m4.metric("Modularity", f"{maps.modularity(graph, clusters, resolution):.2f}")
    m5.metric("Computed in", f"{timer.seconds:.2f} s", help="Network, layout, clustering and drawing (cached after the first time)")
    st.iframe(html, height=680, alt="Paper similarity map")
    st.caption("Nodes are papers, coloured by cluster (the nine largest; grey: the others) and sized by number of "
               "links; the most connected carry their method name, each cluster its top terms. Hover for title, year "
               "and venue. Layout computed in Python (force-directed, seeded); physics off."
               + (f" The {len(highlight)} papers of the Papers page's selection have a dark border." if highlight else ""))

    st.subheader("Clusters")
    st.dataframe(table, hide_index=True, key="map_clusters",
                 column_config={"median year": st.column_config.NumberColumn(format="%d")})

    st.subheader("Do the clusters agree with the taxonomies?")
    agreement = maps.taxonomy_agreement(clusters, papers, explore.taxonomy_ids(catalog))
    agreement["taxonomy"] = agreement["taxonomy"].map(lambda t: explore.SHORT_LABELS.get(t, t))
    st.dataframe(agreement, hide_index=True, key="map_agreement")
    st.caption("Normalised mutual information (0 = independent, 1 = identical partitions) and adjusted Rand "
               "index (0 = chance level) between map clusters and each paper's first placement in a taxonomy. "
               "Low values mean the text of the papers groups them differently from the survey.")

    d1, d2 = st.columns(2)
    # exports are built only when clicked (callables run on download)
    d1.download_button("VOSviewer JSON", lambda: json.dumps(maps.to_vosviewer_json(graph, clusters, positions), indent=1),
                       file_name="diffatlas-paper-map.json", mime="application/json", key="map_vos",
                       icon=":material/download:", on_click="ignore")
    d2.download_button("GraphML", lambda: maps.to_graphml(graph, clusters, positions), file_name="diffatlas-paper-map.graphml",
                       mime="application/xml", key="map_graphml", icon=":material/download:", on_click="ignore")

else:
    t1, t2, t3 = st.columns(3)
    n_terms = t1.slider("Terms", 20, 150, 60, 5, key="terms_n",
                        help="The most domain-specific terms (see the caption below the map)")
    min_cooc = t2.slider("Minimum co-occurrences", 1, 10, 2, key="terms_min")
    term_resolution = t3.slider("Cluster resolution", 0.2, 3.0, 1.0, 0.1, key="terms_resolution")
    term_net, term_pos = appkit.term_network(catalog, appkit.fingerprint(), ids, n_terms, min_cooc)
    term_key = f"{appkit.fingerprint()}:{hash(ids)}:{n_terms}:{min_cooc}"
    term_clusters = appkit.clusters_for(term_net, term_key, term_resolution, 0, 1)
    if term_net.graph.number_of_nodes() == 0:
        st.info("Not enough text for a term map.")
    else:
        st.iframe(appkit.map_html(term_net.graph, term_clusters, term_pos, f"{term_key}:{term_resolution}", "term", 600),
                  height=660, alt="Term co-occurrence map")
        st.caption("Nodes are terms sized by the number of papers using them; links join terms that appear in the "
                   "same papers, weighted by association strength. Terms are chosen by the number of papers using "
                   "them times how concentrated those papers are in a few taxonomy nodes (generic words spread "
                   "evenly), with the catalog's keyword vocabulary counted double.")
        st.dataframe(maps.term_cluster_table(term_net.graph, term_clusters), hide_index=True, key="terms_clusters")
        st.download_button("VOSviewer JSON (terms)",
                           lambda: json.dumps(maps.to_vosviewer_json(term_net.graph, term_clusters, term_pos, kind="term"),
                                              indent=1),
                           file_name="diffatlas-term-map.json", mime="application/json", key="terms_vos",
                           icon=":material/download:", on_click="ignore")
st.caption(f"{md(len(ids))} papers on the map.")
appkit.catalog_caption()
