"""Papers: search, filter, read a paper's record, and take the BibTeX of what you found.

Every filter and the open record live in the URL (?query=...&nodes=...&paper=<id>), so a search can be
shared by copying the address; the results are ranked by relevance (explore.search_papers).
"""

from urllib.parse import urlencode

import streamlit as st

import appkit
from diffatlas import explore, maps
from diffatlas.bibtex import export_bibtex
from diffatlas.htmlsafe import esc, md, md_code, md_link
from diffatlas.models import KINDS, SURVEYS

catalog = appkit.get_catalog()
st.title("Papers")
appkit.problems_banner(catalog)

all_papers = list(catalog.papers.values())
years = sorted({p.year for p in all_papers if p.year})
venues = sorted({p.venue for p in all_papers if p.venue})
node_choices = dict(explore.all_node_choices(catalog))
DEFAULT_KINDS = ["paper", "framework", "survey"]
LIST_FILTERS = {"nodes": ("papers_nodes", node_choices), "venues": ("papers_venues", venues),
                "surveys": ("papers_surveys", list(SURVEYS)), "kinds": ("papers_kinds", list(KINDS)),
                "keywords": ("papers_keywords", sorted(catalog.keywords))}


# -- filters from the URL (first visit), back into the URL (every run) ------------------
def read_url() -> None:
    """Seed each filter widget from its URL parameter once; name the values that are not in this catalog."""
    params = st.query_params
    unknown = []
    if "papers_query" not in st.session_state:
        st.session_state["papers_query"] = params.get("query", "")
    for name, (key, allowed) in LIST_FILTERS.items():
        if key in st.session_state or name not in params:
            continue
        values = params.get_all(name)
        st.session_state[key] = [v for v in values if v in allowed]
        unknown += [f"{name}={v}" for v in values if v not in allowed]
    if "papers_years" not in st.session_state and "years" in params and len(years) > 1:
        first, _, last = params["years"].partition("-")
        if first.isdigit() and last.isdigit():
            st.session_state["papers_years"] = (max(int(first), years[0]), min(int(last), years[-1]))
        else:
            unknown.append(f"years={params['years']}")
    if "papers_code" not in st.session_state:
        st.session_state["papers_code"] = params.get("code") == "1"
    wanted = params.get("paper")  # a shared link, or a 'similar paper' link to this page
    if wanted and wanted != st.session_state.get("papers_url_written"):
        st.session_state["papers_url_written"] = wanted
        if wanted in catalog.papers:
            st.session_state["papers_detail"] = st.session_state["papers_url_paper"] = wanted
        else:
            unknown.append(f"paper={wanted}")
    if unknown:
        st.session_state["papers_url_unknown"] = unknown
    if st.session_state.get("papers_url_unknown"):
        st.warning("Not in this catalog, so left out of the search: "
                   + ", ".join(md_code(u) for u in st.session_state["papers_url_unknown"]), icon=":material/link_off:")


def url_state(filters: "explore.Filters", paper_id: str | None) -> dict:
    """The URL parameters of this search: only the filters that differ from their defaults."""
    state = {"query": filters.query, "nodes": filters.nodes, "venues": filters.venues, "surveys": filters.surveys,
             "kinds": filters.kinds if filters.kinds != DEFAULT_KINDS else [], "keywords": filters.keywords,
             "years": f"{filters.years[0]}-{filters.years[1]}" if filters.years else "",
             "code": "1" if filters.has_code else "", "paper": paper_id or ""}
    return {k: v for k, v in state.items() if v}


def write_url(state: dict) -> None:
    for name in ("query", "years", "code", "paper", *LIST_FILTERS):
        if name in state:
            st.query_params[name] = state[name]
        elif name in st.query_params:
            del st.query_params[name]


def results_html(scored: list, words: list[str], state: dict, limit: int) -> str:
    """The best matches as a list: title and method name marked, a marked snippet of the summary, and a link
    (this search's URL plus ?paper=<id>) that opens the record here."""
    mark = explore.highlight_html
    items = []
    for paper, score in scored[:limit]:
        href = "?" + urlencode({**state, "paper": paper.id}, doseq=True)
        name = f" <b>{mark(paper.name, words)}</b> \u00b7" if paper.name and paper.name not in paper.title else ""
        meta = " \u00b7 ".join(esc(x) for x in (paper.year or "n.d.", paper.venue, f"relevance {score:g}") if x)
        snippet = mark(explore.summary_snippet(paper.summary, words), words)
        items.append(f'<li style="margin-bottom:.5em">{name} <a href="{esc(href)}" target="_self">'
                     f'{mark(paper.title, words)}</a> <span style="color:#777">({meta})</span><br>'
                     f'<span style="font-size:.9em">{snippet}</span></li>')
    return '<ol style="padding-left:1.4em">' + "".join(items) + "</ol>"


read_url()
with st.sidebar:
    st.header("Filters")
    query = st.text_input("Search", key="papers_query", placeholder="e.g. ode solver, caching, Song",
                          help="Every word must match; a match in the method name or title counts more than one in "
                          "the keywords, and those more than one in the summary, authors or venue. Whole words "
                          "count more than parts of words.")
    nodes = st.multiselect("Taxonomy nodes (any of)", list(node_choices), format_func=node_choices.get,
                           key="papers_nodes", placeholder="Any node of any taxonomy")
    year_range = None
    if len(years) > 1:
        if "papers_years" not in st.session_state:  # the widget's default, unless the URL set it
            st.session_state["papers_years"] = (years[0], years[-1])
        year_range = st.slider("Years", years[0], years[-1], key="papers_years")
    sel_venues = st.multiselect("Venues", venues, key="papers_venues", placeholder="Any venue")
    sel_surveys = st.multiselect("Listed by survey", list(SURVEYS), format_func=explore.SHORT_LABELS.get,
                                 key="papers_surveys", placeholder="Any or none")
    sel_keywords = []
    if catalog.keywords:
        sel_keywords = st.multiselect("Keywords (any of)", sorted(catalog.keywords), key="papers_keywords",
                                      placeholder="Any keyword", help="The catalog's controlled vocabulary "
                                      "(catalog/keywords.yaml); hover a term in a record for its meaning")
    has_code = st.checkbox("Has code", key="papers_code")
    if "papers_kinds" not in st.session_state:
        st.session_state["papers_kinds"] = DEFAULT_KINDS
    kinds = st.multiselect("Kinds", list(KINDS), key="papers_kinds",
                           help="Background works (not about diffusion, cited by a survey) are hidden by default")

filters = explore.Filters(query=query or "", nodes=nodes, years=tuple(year_range) if year_range and year_range != (years[0], years[-1]) else None,
                          venues=sel_venues, surveys=sel_surveys, has_code=has_code, kinds=kinds,
                          keywords=sel_keywords)
scored = explore.search_papers(catalog, filters)
found = [p for p, _ in scored]
words = explore.query_words(filters.query)
st.session_state["papers_selection"] = {"ids": [p.id for p in found], "description": filters.describe()}

# -- results and downloads -----------------------------------------------------------
order = "most relevant first" if words else "newest first"
st.markdown(f"**{len(found)}** of {len(all_papers)} entries match ({md(filters.describe())}), {order}.")
incomplete = [p for p in found if p.missing_citation_fields()]
c1, c2, c3 = st.columns([1, 1, 3])
# The files are built when a button is clicked (a callable), not on every rerun: at 10,000 papers
# the BibTeX of everything takes seconds.
c1.download_button("BibTeX of this selection", lambda: export_bibtex(found), file_name="diffatlas-selection.bib", mime="application/x-bibtex",
                   icon=":material/download:", key="papers_bib", disabled=not found, on_click="ignore")
c2.download_button("CSV of this selection", lambda: explore.export_frame(found).to_csv(index=False), file_name="diffatlas-selection.csv", mime="text/csv",
                   icon=":material/table:", key="papers_csv", disabled=not found, on_click="ignore")
if "map" in appkit.PAGES:
    c3.page_link(appkit.PAGES["map"], label="Map this selection", icon=":material/hub:")
if incomplete:
    st.caption(f"{len(incomplete)} of these entries lack a citation field (see the 'incomplete' column): their BibTeX "
               "entries will too. The catalog fills a field only when it has been checked.")

if words and found:
    shown = st.session_state.get("papers_list_size", 10)
    st.html(results_html(scored, words, url_state(filters, None), shown))
    if len(found) > shown:
        st.button(f"Show {min(20, len(found) - shown)} more (of {len(found)})", key="papers_more", type="tertiary",
                  on_click=lambda: st.session_state.update(papers_list_size=shown + 20))
    st.caption("Matches are marked; a title opens its record. The table below has every match, sortable by column.")
table = explore.papers_frame(found, relevance={p.id: s for p, s in scored} if words else None)
event = st.dataframe(
    table, hide_index=True, key="papers_table", on_select="rerun", selection_mode="single-row",
    column_config=appkit.paper_columns(),
)
st.caption("Click a row to read that paper's record below.")
if st.toggle("Show the BibTeX here", key="papers_show_bib"):
    st.code(export_bibtex(found) or "% nothing selected", language="bibtex")

# -- one paper's record --------------------------------------------------------------
st.subheader("Paper details")
ids = [p.id for p in found]
from_url = st.session_state.get("papers_url_paper")
if from_url and from_url not in ids and st.session_state.get("papers_detail") == from_url:
    ids = [from_url] + ids  # the record the URL asks for, even when the filters leave it out
if not ids:
    st.info("No paper matches these filters.")
    write_url(url_state(filters, None))
    st.stop()
rows = list(event.selection.rows) if event is not None and hasattr(event, "selection") else []
clicked = table["id"].iloc[rows[0]] if rows and rows[0] < len(table) else None
if clicked and clicked != st.session_state.get("papers_clicked"):  # a new row click picks the paper
    st.session_state["papers_detail"] = clicked
st.session_state["papers_clicked"] = clicked
if st.session_state.get("papers_detail") not in ids:
    st.session_state["papers_detail"] = ids[0]
titles = {i: f"{p.name + ': ' if p.name and not p.title.startswith(p.name) else ''}{p.title} ({p.year or 'n.d.'})"
          for i, p in ((i, catalog.papers[i]) for i in ids)}
pid = st.selectbox("Paper", ids, format_func=titles.get, key="papers_detail")
if pid != ids[0] or pid == from_url:  # a paper the reader chose, or the one the URL opened
    st.session_state["papers_url_written"] = pid
    write_url(url_state(filters, pid))
else:
    write_url(url_state(filters, None))
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
    st.markdown("**Similar papers** (cosine similarity of TF-IDF features, from a nearest-neighbour index)")
    if paper.kind == "background":
        st.caption("Background works are not on the map.")
    else:
        network = appkit.default_network(catalog)
        similar = maps.similar_papers(network, paper.id, n=6)
        if similar:
            for other, score in similar:
                item = catalog.papers[other]
                st.markdown(f"- [{md(item.title)}](?{urlencode({'paper': other})}) ({md(str(item.year or ''))}) \u00b7 {score:.2f}")
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
