"""Surveys: the three surveys side by side."""

import plotly.express as px
import streamlit as st

import appkit
from diffatlas import explore
from diffatlas.htmlsafe import esc

catalog = appkit.get_catalog()
st.title("The three surveys side by side")
appkit.problems_banner(catalog)

st.subheader("Coverage")
st.dataframe(explore.survey_coverage(catalog), hide_index=True, key="surveys_coverage")
left, right = st.columns(2)
with left:
    st.markdown("**Papers listed by each pair of surveys** (diagonal: all papers a survey lists)")
    st.dataframe(explore.pairwise_overlap(catalog), key="surveys_pairwise")
with right:
    st.markdown("**Papers by the exact set of surveys that list them**")
    st.dataframe(explore.survey_overlap(catalog)[["surveys", "papers"]], hide_index=True, key="surveys_overlap")

st.subheader("Crosswalk between two taxonomies")
tids = [t for t in ("ulhaq2022", "shen2025", "ma2024") if t in catalog.taxonomies]
if len(tids) < 2:
    st.info("Needs two taxonomies.")
    st.stop()
c1, c2, c3 = st.columns(3)
row_tid = c1.selectbox("Rows", tids, index=0, format_func=lambda t: catalog.taxonomies[t].name, key="surveys_rows")
col_tid = c2.selectbox("Columns", tids, index=1, format_func=lambda t: catalog.taxonomies[t].name, key="surveys_cols")
depth = c3.radio("Level", [0, 1], index=1, format_func=["top level", "second level"].__getitem__, horizontal=True,
                 key="surveys_depth")
matrix = explore.crosswalk_matrix(catalog, row_tid, col_tid, depth)
if matrix.empty:
    st.info("Nothing to compare.")
else:
    names = {tid: {nid: esc(n.name) for nid, n in catalog.node_index[tid].items()} for tid in tids}
    labelled = matrix.rename(index=names[row_tid], columns=names[col_tid])
    fig = px.imshow(labelled, text_auto=True, aspect="auto", color_continuous_scale="Blues",
                    labels=dict(x=esc(catalog.taxonomies[col_tid].name), y=esc(catalog.taxonomies[row_tid].name), color="papers"))
    fig.update_layout(margin=dict(t=10, l=10, r=10, b=10), height=max(360, 34 * len(labelled) + 160))
    fig.update_xaxes(side="top", tickangle=-30)
    st.plotly_chart(fig, key="surveys_heatmap")
    st.caption("Each cell: papers filed under both nodes. Diffatlas files every paper in EDS/EPS and in "
               "algorithm/system/framework, so this is the crosswalk the surveys themselves do not draw.")
st.subheader("Ulhaq & Akhtar's tables, as the catalog holds them")
st.caption("Tables I and II name representative works for each strategy; Table III compares reported efficiency "
           "figures. 'method' is the paper's own method name in the catalog, 'as named' the survey's; open a row's "
           "id on the Papers page for its record.")
ulhaq = explore.survey_table_rows(catalog, "ulhaq2022")
if ulhaq.empty:
    st.info("No entry of this catalog is listed in those tables.")
else:
    which = st.segmented_control("Table", sorted(ulhaq["table"].unique()), default=sorted(ulhaq["table"].unique())[0],
                                 key="surveys_ulhaq_table")
    part = ulhaq[ulhaq["table"] == which] if which else ulhaq
    st.dataframe(part.drop(columns=["table"] + ([] if which == "Table III" else ["figures"])), hide_index=True,
                 key="surveys_ulhaq_rows")
appkit.catalog_caption()
