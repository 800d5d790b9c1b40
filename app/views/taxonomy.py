"""Taxonomy explorer: walk a survey's tree down to a leaf.

The selection lives in the URL (?tax=shen2025&node=algorithm.sampling.solver),
so a view can be shared by copying the address.
"""

import streamlit as st

import appkit
from diffatlas import explore
from diffatlas.htmlsafe import md, md_code

catalog = appkit.get_catalog()
st.title("Taxonomy explorer")
appkit.problems_banner(catalog)

taxonomies = catalog.taxonomies
if not taxonomies:
    st.error("No taxonomy could be loaded; see the catalog check page.")
    st.stop()
tids = explore.taxonomy_ids(catalog)

# -- state from the URL on first visit ----------------------------------------
params = st.query_params
if "explorer_tax" not in st.session_state:
    wanted_tax = params.get("tax")
    st.session_state["explorer_tax"] = wanted_tax if wanted_tax in taxonomies else tids[0]
    if wanted_tax is not None and wanted_tax not in taxonomies:
        st.session_state["explorer_url_unknown"] = (f"No taxonomy {md_code(wanted_tax)} in this catalog (the link's "
                                                    f"tax=); showing {md(taxonomies[tids[0]].name)}. Taxonomies: "
                                                    + ", ".join(md_code(t) for t in tids) + ".")
        st.session_state["explorer_url_fallback"] = (tids[0], None)
tid = st.segmented_control("Taxonomy", tids, format_func=lambda t: md(taxonomies[t].name), key="explorer_tax")
if tid is None:  # segmented control can be deselected; fall back to the first tree
    tid = tids[0]
tax = taxonomies[tid]
index = catalog.node_index[tid]
node_key = f"explorer_node_{tid}"
if node_key not in st.session_state:
    wanted = params.get("node")
    st.session_state[node_key] = wanted if wanted in index else tax.nodes[0].id
    if wanted is not None and wanted not in index and "explorer_url_unknown" not in st.session_state:
        st.session_state["explorer_url_unknown"] = (f"No node {md_code(wanted)} in {md(tax.name)} (the link's node=); "
                                                    f"showing its first node, {md(tax.nodes[0].name)}.")
        st.session_state["explorer_url_fallback"] = (tid, None)
fallback = st.session_state.get("explorer_url_fallback")
if fallback and fallback[0] == tid and fallback[1] in (None, st.session_state[node_key]):
    st.session_state["explorer_url_fallback"] = (tid, st.session_state[node_key])  # said until the reader moves on
    st.warning(st.session_state["explorer_url_unknown"], icon=":material/link_off:")


def go(node_id: str) -> None:
    st.session_state[node_key] = node_id


options = explore.node_options(catalog, tid)
labels = dict(options)
node_id = st.selectbox("Node", [o for o, _ in options], format_func=lambda o: labels[o], key=node_key,
                       help="Every node of the tree, indented by depth, with its paper count (node and all below it)")
st.query_params.update({"tax": tid, "node": node_id})
node = index[node_id]

counts = explore.node_paper_counts(catalog, tid)

# -- top level, breadcrumb ----------------------------------------------------------
top = st.columns(len(tax.nodes) + 1)
top[0].markdown("**Top level:**")
for col, item in zip(top[1:], tax.nodes):
    col.button(f"{md(item.name)} ({counts.get(item.id, (0, 0))[1]})",
               key=f"top_{tid}_{item.id}", on_click=go, args=(item.id,), type="tertiary",
               disabled=item.id == node_id)
trail = explore.breadcrumb(catalog, tid, node_id)
if len(trail) > 1:
    crumbs = st.columns(len(trail))
    for col, item in zip(crumbs, trail[:-1]):
        col.button(f"{md(item.name)} \u203a", key=f"crumb_{tid}_{item.id}", on_click=go, args=(item.id,), type="tertiary")
    crumbs[-1].markdown(f"**{md(trail[-1].name)}**")

st.header(md(node.name))
st.markdown(md(node.description))
st.caption(f"Node id {md_code(node.id)} in {md(tax.name)}. {md(tax.description)}")

if node.children:
    st.markdown("**Below this node**")
    child_cols = st.columns(min(len(node.children), 4))
    for i, child in enumerate(node.children):
        child_cols[i % len(child_cols)].button(
            f"{md(child.name)} ({counts.get(child.id, (0, 0))[1]})", key=f"child_{tid}_{child.id}",
            on_click=go, args=(child.id,), icon=":material/subdirectory_arrow_right:", width="stretch")

# -- reference implementation ---------------------------------------------------
st.subheader("Reference implementation")
demo = explore.node_demo(node)
if demo.own:
    appkit.page_link_demo(demo.own, f"Run the {node.name} demo")
elif demo.reason:
    st.markdown(f"No demo: {md(demo.reason)}")
if demo.below():
    st.markdown("This node has no demo of its own; these belong to nodes below it:")
    for demo_id, name in demo.below():
        appkit.page_link_demo(demo_id, f"The {name} demo (of the node {name}, below this one)")
checked = explore.node_runs_here(catalog, tid, node_id)
if checked:
    machines = {item.runs_here.machine for item in checked}
    shared = f" ({md(next(iter(machines)))})" if len(machines) == 1 else ""
    st.markdown(f"**Tried on this machine**{shared}: does each of the {len(checked)} entries filed here run here, "
                "and what does diffatlas measure in its place?")
    grid = st.columns(min(len(checked), 3))
    for i, item in enumerate(checked):
        with grid[i % len(grid)].container(border=True, key=f"runs_here_{tid}_{item.id}"):
            appkit.runs_here(item, heading=False, machine=len(machines) > 1)

# -- papers -----------------------------------------------------------------------
papers = catalog.by_node(tid, node_id)
st.subheader(f"Papers ({len(papers)})")
include_bg = st.toggle("Include background works", value=False, key="explorer_bg")
shown = [p for p in papers if include_bg or p.kind != "background"]
origin = explore.node_origins(catalog, tid, node_id)
tally = {o: sum(1 for p in shown if origin.get(p.id) == o) for o in ("survey", "refined", "curated")}
survey_short = explore.SHORT_LABELS.get(tid, tid)
st.markdown(f"**{tally['survey']}** listed here by {md(survey_short)}'s own list"
            + (f", **{tally['refined']}** filed by it one level up (diffatlas chose this node)" if tally["refined"] else "")
            + f", **{tally['curated']}** added by diffatlas.")
frame = explore.papers_frame(shown)
frame.insert(2, "placed by", [{"survey": "survey", "refined": "survey, refined", "curated": "diffatlas"}[origin[i]]
                               for i in frame["id"]])
st.dataframe(frame, hide_index=True, key=f"explorer_table_{tid}", column_config=appkit.paper_columns())
st.caption("Click a column header to sort. Papers filed at this node or anywhere below it. 'placed by': survey = the "
           "survey's own list files it here; diffatlas = curated, the survey does not file it here.")
outside = explore.outside_papers(catalog, tid)
if outside and any(node.id == top.id for top in tax.nodes):
    with st.expander(f"Outside this tree: {len(outside)} papers that fit none of its nodes"):
        for item in outside:
            st.markdown(f"- **{md(item.label)}** ({md(str(item.year or ''))}): {md(item.outside[tid])}")

st.subheader("Crosswalk: where these papers sit in the other taxonomies")
cross = explore.node_crosswalk(catalog, tid, node_id)
if cross.empty:
    st.info("No papers here yet.")
else:
    st.dataframe(cross, hide_index=True, key=f"explorer_cross_{tid}",
                 column_config={"papers": st.column_config.ProgressColumn("papers", format="%d", min_value=0,
                                                                          max_value=max(len(papers), 1))})
appkit.catalog_caption()
