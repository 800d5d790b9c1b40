"""Papers: search, filter, read a paper's record, and take the BibTeX of what you found."""

import streamlit as st

import appkit
from diffatlas import explore, maps
from diffatlas.bibtex import export_bibtex
from diffatlas.htmlsafe import md, md_code, md_link
from diffatlas.models import KINDS, SURVEYS

catalog = appkit.get_catalog()
st.title("Papers")
appkit.problems_banner(catalog)

all_papers = list(catalog.papers.values())
years = sorted({p.year for p in all_papers if p.year})
venues = sorted({p.venue for p in all_papers if p.venue})
node_choices = dict(explore.all_node_choices(catalog))

# -- filters ----------------------------------------------------------------------
with st.sidebar:
    st.header("Filters")
    query = st.text_input("Search", key="papers_query", placeholder="e.g. ode solver, caching, Song",
                          help="Every word must appear in the title, summary, keywords, authors or venue")
    nodes = st.multiselect("Taxonomy nodes (any of)", list(node_choices), format_func=node_choices.get,
                           key="papers_nodes", placeholder="Any node of any taxonomy")
    year_range = None
    if len(years) > 1:
        year_range = st.slider("Years", years[0], years[-1], (years[0], years[-1]), key="papers_years")
    sel_venues = st.multiselect("Venues", venues, key="papers_venues", placeholder="Any venue")
    sel_surveys = st.multiselect("Listed by survey", list(SURVEYS), format_func=explore.SHORT_LABELS.get,
                                 key="papers_surveys", placeholder="Any or none")
    sel_keywords = []
    if catalog.keywords:
        sel_keywords = st.multiselect("Keywords (any of)", sorted(catalog.keywords), key="papers_keywords",
                                      placeholder="Any keyword", help="The catalog's controlled vocabulary "
                                      "(catalog/keywords.yaml); hover a term in a record for its meaning")
    has_code = st.checkbox("Has code", key="papers_code")
    kinds = st.multiselect("Kinds", list(KINDS), default=["paper", "framework", "survey"], key="papers_kinds",
                           help="Background works (not about diffusion, cited by a survey) are hidden by default")

filters = explore.Filters(query=query or "", nodes=nodes, years=tuple(year_range) if year_range and year_range != (years[0], years[-1]) else None,
                          venues=sel_venues, surveys=sel_surveys, has_code=has_code, kinds=kinds,
                          keywords=sel_keywords)
found = explore.filter_papers(catalog, filters)
st.session_state["papers_selection"] = {"ids": [p.id for p in found], "description": filters.describe()}

# -- results and downloads -----------------------------------------------------------
st.markdown(f"**{len(found)}** of {len(all_papers)} entries match ({md(filters.describe())}).")
bibtex = export_bibtex(found)
incomplete = [p for p in found if p.missing_citation_fields()]
csv = explore.export_frame(found).to_csv(index=False)
c1, c2, c3 = st.columns([1, 1, 3])
c1.download_button("BibTeX of this selection", bibtex, file_name="diffatlas-selection.bib", mime="application/x-bibtex",
                   icon=":material/download:", key="papers_bib", disabled=not found, on_click="ignore")
c2.download_button("CSV of this selection", csv, file_name="diffatlas-selection.csv", mime="text/csv",
                   icon=":material/table:", key="papers_csv", disabled=not found, on_click="ignore")
if "map" in appkit.PAGES:
    c3.page_link(appkit.PAGES["map"], label="Map this selection", icon=":material/hub:")
if incomplete:
    st.caption(f"{len(incomplete)} of these entries lack a citation field (see the 'incomplete' column): their BibTeX "
               "entries will too. The catalog fills a field only when it has been checked.")

table = explore.papers_frame(found)
event = st.dataframe(
    table, hide_index=True, key="papers_table", on_select="rerun", selection_mode="single-row",
    column_config=appkit.paper_columns(),
)
st.caption("Click a row to read that paper's record below.")
if st.toggle("Show the BibTeX here", key="papers_show_bib"):
    st.code(bibtex or "% nothing selected", language="bibtex")

# -- one paper's record --------------------------------------------------------------
st.subheader("Paper details")
if not found:
    st.info("No paper matches these filters.")
    st.stop()
ids = [p.id for p in found]
rows = list(event.selection.rows) if event is not None and hasattr(event, "selection") else []
clicked = table["id"].iloc[rows[0]] if rows and rows[0] < len(table) else None
if clicked and clicked != st.session_state.get("papers_clicked"):  # a new row click picks the paper
    st.session_state["papers_detail"] = clicked
st.session_state["papers_clicked"] = clicked
if st.session_state.get("papers_detail") not in ids:
    st.session_state["papers_detail"] = ids[0]
titles = {p.id: f"{p.name + ': ' if p.name and not p.title.startswith(p.name) else ''}{p.title} ({p.year or 'n.d.'})"
          for p in found}
pid = st.selectbox("Paper", ids, format_func=titles.get, key="papers_detail")
paper = catalog.papers[pid]

st.markdown(f"### {md(paper.title)}")
if paper.name and not paper.title.startswith(paper.name):
    st.markdown(f"Method name: **{md(paper.name)}**")
meta = [md(str(paper.year)) if paper.year else "year unknown", md(paper.venue) if paper.venue else None,
        md(paper.kind), md_link("paper", paper.url) if paper.url else None,
        md_link("code", paper.code) if paper.code else None,
        md_link(f"arXiv {paper.arxiv}", f"https://arxiv.org/abs/{paper.arxiv}") if paper.arxiv else None,
        md_link(f"doi {paper.doi}", f"https://doi.org/{paper.doi}") if paper.doi else None]
st.markdown(" \u00b7 ".join(m for m in meta if m))
if paper.authors:
    st.markdown(md(", ".join(paper.authors)))
if paper.missing_citation_fields():
    st.info("Incomplete citation: no " + ", no ".join(paper.missing_citation_fields()) + " recorded yet (the catalog "
            "fills a field only when it has been checked against the paper).", icon=":material/info:")
if paper.unresolved:
    st.warning("Unresolved: a survey names this work but it could not be identified with certainty.")
st.markdown(md(paper.summary))
if paper.keywords:
    st.markdown("Keywords: " + ", ".join(f"{md_code(k)}" for k in paper.keywords),
                help="; ".join(f"{k}: {catalog.keywords[k]}" for k in paper.keywords if k in catalog.keywords) or None)
if paper.runs_here is not None:
    with st.container(border=True, key="papers_runs_here"):
        appkit.runs_here(paper)

left, right = st.columns(2)
with left:
    st.markdown("**Placement in the taxonomies**")
    st.dataframe(explore.tag_rows(catalog, paper), hide_index=True, key="papers_tags")
    st.caption("'placed by' tells whether a survey's own list files the paper there or diffatlas placed it.")
    st.markdown("**Provenance: where the surveys list it**")
    prov = explore.provenance_frame(paper)
    if prov.empty:
        st.caption("Not listed by any of the three surveys (contributed).")
    else:
        st.dataframe(prov, hide_index=True, key="papers_prov")
with right:
    st.markdown("**Similar papers** (cosine similarity of TF-IDF features, as on the map)")
    if paper.kind == "background":
        st.caption("Background works are not on the map.")
    else:
        network = appkit.default_network(catalog)
        similar = maps.similar_papers(network, paper.id, n=6)
        if similar:
            for other, score in similar:
                item = catalog.papers[other]
                st.markdown(f"- {md_link(item.title, item.url)} ({md(str(item.year or ''))}) \u00b7 {score:.2f}")
        else:
            st.caption("No similar paper above the threshold.")
    st.markdown("**Reported figures**")
    rep = explore.reported_frame(paper)
    if rep.empty:
        st.caption(md(paper.no_reported) if paper.no_reported else "None recorded yet.")
    else:
        st.dataframe(rep, hide_index=True, key="papers_reported")
if paper.notes:
    st.markdown("**Curation notes**")
    for note in paper.notes:
        st.markdown(f"- {md(note)}")
with st.expander("All fields, as in the catalog file"):
    st.json(paper.model_dump(mode="json", exclude_defaults=True), expanded=True)
with st.expander("BibTeX of this paper"):
    st.code(export_bibtex([paper]) or "% unresolved entries have no BibTeX", language="bibtex")
appkit.catalog_caption()
