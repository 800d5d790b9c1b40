"""Overview: the field at a glance."""

import textwrap

import plotly.express as px
import streamlit as st

import appkit
from diffatlas import explore
from diffatlas.htmlsafe import esc, md

catalog = appkit.get_catalog()
st.title("Efficient diffusion models: the field at a glance")
appkit.problems_banner(catalog)

counts = explore.overview_counts(catalog)
cols = st.columns(6)
cols[0].metric("Papers", counts["papers"], help=f"Not counting {counts['background']} background works that surveys cite")
cols[1].metric("Venues", counts["venues"])
cols[2].metric("Years", counts["years"], help=f"Publication years {counts['years']}: {counts['year_count']} distinct years")
cols[3].metric("Surveys", counts["surveys"], help="Taxonomies of three surveys")
cols[4].metric("Taxonomy nodes", counts["nodes"])
cols[5].metric("Demos", counts["demos"], help="Reference implementations linked from taxonomy nodes")

labels = {tid: catalog.taxonomies[tid].name for tid in explore.taxonomy_ids(catalog)}
if not labels:
    st.error("No taxonomy could be loaded; see the catalog check page.")
    st.stop()

st.subheader("How each survey organises the field")
t1, t2 = st.columns([4, 1], vertical_alignment="bottom")
tid = t1.segmented_control("Taxonomy", list(labels), format_func=lambda t: md(labels[t]), default=list(labels)[0],
                           key="overview_tax") or list(labels)[0]
style = t2.radio("Chart", ["Sunburst", "Treemap"], horizontal=True, key="overview_chart", label_visibility="collapsed")
colours = {esc(name): colour for name, colour in appkit.category_colors(catalog, tid).items()}
left, right = st.columns([3, 2])
with left:
    frame = explore.tree_frame(catalog, tid)
    # plotly renders a subset of HTML in labels and hovers: escape catalog text
    # escaped first, then broken into lines of ~16 characters so a label fits its sector
    frame = frame.assign(label=frame["label"].map(lambda t: "<br>".join(textwrap.wrap(esc(t), 16)) or esc(t)),
                         description=frame["description"].map(esc))
    frame["category"] = frame["category"].map(esc)
    chart = px.sunburst if style == "Sunburst" else px.treemap
    fig = chart(frame, ids="id", names="label", parents="parent", values="value", branchvalues="remainder",
                color="category", color_discrete_map=colours, hover_data={"papers": True, "description": True},
                **({"maxdepth": 2} if style == "Sunburst" else {}))
    fig.update_traces(hovertemplate="<b>%{label}</b><br>%{customdata[0]} papers<br>%{customdata[1]}<extra></extra>")
    if style == "Sunburst":  # two rings at a time (click to go deeper), upright labels, none too small to read
        fig.update_traces(insidetextorientation="horizontal", textfont_size=12)
    fig.update_layout(margin=dict(t=10, l=10, r=10, b=10), height=560, uniformtext=dict(minsize=10, mode="hide"))
    st.plotly_chart(fig, key="overview_tree")
    st.caption("Areas are paper placements: a paper filed under two nodes counts in both. "
               "Click a sector to zoom in; open the Taxonomy explorer for the papers of a node.")
with right:
    st.markdown("**Coverage of the three surveys**")
    overlap = explore.survey_overlap(catalog)
    fig = px.bar(overlap, x="papers", y="surveys", orientation="h", text="papers")
    fig.update_layout(margin=dict(t=10, l=10, r=10, b=10), height=360, yaxis={"categoryorder": "array",
                      "categoryarray": list(reversed(overlap["surveys"].tolist()))}, yaxis_title=None)
    st.plotly_chart(fig, key="overview_overlap")
    st.caption("Papers by the exact set of surveys that list them.")

st.subheader("Papers per year")
timeline = explore.timeline_frame(catalog, tid)
timeline["category"] = timeline["category"].map(esc)
if timeline.empty:
    st.info("No dated papers in the catalog yet.")
else:
    order = [esc(n.name) for n in catalog.taxonomies[tid].nodes] + [appkit.NOT_FILED]
    fig = px.bar(timeline, x="year", y="papers", color="category", barmode="stack",
                 category_orders={"category": order}, color_discrete_map=colours)
    fig.update_layout(margin=dict(t=10, l=10, r=10, b=10), height=360, xaxis=dict(dtick=1), legend_title=None)
    st.plotly_chart(fig, key="overview_timeline")
    st.caption(f"Stacked by the top-level category of each paper's first {md(labels[tid])} placement; each category "
               "has the same colour here as in the chart above.")
appkit.catalog_caption()
