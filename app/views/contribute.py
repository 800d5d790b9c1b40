"""Contribute: turn BibTeX or a form into a checked catalog file to download and open a PR with.

Nothing is written on the server: the page runs the same checks as
`diffatlas add` and hands back the YAML file plus the git steps.
"""

import datetime as dt
import re

import streamlit as st

import appkit
from diffatlas import explore
from diffatlas.contribute import PAGE_HOW, ContributionError, Draft, complete_fields, fields_from_bibtex, leaf_choices, prepare
from diffatlas.htmlsafe import md, md_link
from diffatlas.models import KINDS
from diffatlas.paths import papers_dir

catalog = appkit.get_catalog()
st.title("Contribute a paper")
st.markdown(
    "Paste a BibTeX entry or fill in the form, place the paper in the taxonomies, and check it. "
    "A valid entry comes back as a YAML file for `catalog/papers/` with the exact git steps to open a pull request. "
    "The checks are the ones `diffatlas add` and CI run: duplicates, links, years, taxonomy nodes, plain text."
)

source = st.radio("Start from", ["BibTeX", "Form"], horizontal=True, key="contribute_source")
fields: dict = {}
errors: list[str] = []
if source == "BibTeX":
    bibtex = st.text_area("BibTeX entry (one)", height=160, key="contribute_bibtex",
                          placeholder="@inproceedings{key,\n  title = {...},\n  author = {...},\n  year = {2025},\n  booktitle = {ICLR},\n  url = {https://...}\n}")
    if bibtex.strip():
        try:
            fields = fields_from_bibtex(bibtex, source="pasted BibTeX")
        except ContributionError as exc:
            errors.append(str(exc))
else:
    col1, col2 = st.columns(2)
    fields["title"] = col1.text_input("Title", key="contribute_title")
    fields["venue"] = col2.text_input("Venue (ICLR, CVPR, NeurIPS, arXiv, ...)", key="contribute_venue")
    col1, col2, col3 = st.columns(3)
    fields["year"] = col1.number_input("Year", min_value=1900, max_value=dt.date.today().year,
                                       value=dt.date.today().year, step=1, key="contribute_year")
    month = col2.selectbox("Month", ["", *range(1, 13)], key="contribute_month")
    fields["month"] = month or None
    fields["kind"] = col3.selectbox("Kind", KINDS, key="contribute_kind")
    col1, col2 = st.columns(2)
    fields["url"] = col1.text_input("Paper link (http/https)", key="contribute_url")
    fields["code"] = col2.text_input("Code link (optional)", key="contribute_code")
    authors = st.text_area("Authors, one per line (only if you are sure)", key="contribute_authors")
    fields["authors"] = [a.strip() for a in authors.splitlines() if a.strip()]



def preview(fields: dict) -> None:
    """What was read, as it will be checked (link derived from the arXiv id or DOI, venue in its short form)."""
    shown = complete_fields(fields)
    if not shown.get("title"):
        return
    st.markdown("**Read from the BibTeX** (check it before you go on):")
    rows = [("Title", md(shown["title"])),
            ("Authors", md(", ".join(shown["authors"])) if shown.get("authors") else "none given"),
            ("Year", md(shown.get("year", "none given"))),
            ("Venue", md(shown.get("venue", "none given"))),
            ("Link", md_link(shown["url"], shown["url"]) if shown.get("url") else "none given"),
            ("arXiv", md(shown.get("arxiv", "none")))]
    st.markdown("\n".join(f"- {label}: {value}" for label, value in rows))


if fields and not errors and source == "BibTeX":
    preview(fields)

fields["summary"] = st.text_area(
    "Summary: one or two sentences in your own words (the idea, and why it makes diffusion cheaper)",
    key="contribute_summary")
keywords = st.text_input("Keywords, comma-separated", key="contribute_keywords")
fields["keywords"] = [k.strip().lower() for k in keywords.split(",") if k.strip()]
paper_id = st.text_input("Id (optional: derived from the title and year when blank)", key="contribute_id").strip() or None

st.subheader("Place it in the taxonomies")
st.caption("Every paper needs at least one node in EDS/EPS and in algorithm/system/framework; Ma et al.'s parts where it fits.")
tags: dict[str, list[str]] = {}
tree_ids = explore.taxonomy_ids(catalog)  # the order every other page uses
cols = st.columns(len(tree_ids) or 1)
for col, tid in zip(cols, tree_ids):
    tax = catalog.taxonomies[tid]
    labels = dict(leaf_choices(catalog, tid))
    picked = col.multiselect(tax.name, list(labels), format_func=lambda node_id, labels=labels: labels[node_id].strip(),
                             key=f"contribute_tags_{tid}")
    if picked:
        tags[tid] = picked

FIELD_LABELS = {"title": "Title", "year": "Year", "month": "Month", "kind": "Kind", "venue": "Venue", "url": "Paper link",
                "code": "Code link", "authors": "Authors", "summary": "Summary", "keywords": "Keywords", "id": "Id"}


def in_page_words(line: str) -> str:
    """"field 'url': ..." as the page names it ("Paper link: ..."); BibTeX-only fields say so, trees by their picker."""
    match = re.match(r"field '([^']+)': ", line)
    if not match:
        return line
    name = match.group(1)
    tree = catalog.taxonomies.get(name.removeprefix("tags."))
    label = (FIELD_LABELS.get(name) or (tree.name if name.startswith("tags.") and tree else None)
             or f"BibTeX field '{name}'")
    return f"{label}: {line[match.end():]}"


if st.button("Check the entry", type="primary", key="contribute_check"):
    folder = papers_dir(appkit.catalog_dirs()[0])
    draft = prepare(fields, tags, catalog, folder, paper_id, how=PAGE_HOW) if not errors else Draft({}, errors)
    if draft.duplicate:
        st.error(f"Already in the catalog: open {md(draft.duplicate)}.", icon=":material/content_copy:")
        if "papers" in appkit.PAGES:
            st.page_link(appkit.PAGES["papers"], label=f"Open {md(draft.duplicate)} on the Papers page",
                         icon=":material/article:", query_params={"paper": draft.duplicate})
    if not draft.ok:
        st.error("The entry cannot go into the catalog yet:", icon=":material/error:")
        for line in draft.errors:
            st.markdown(f"- {md(in_page_words(line))}")
    else:
        pid = draft.data["id"]
        st.success(f"Valid: this would be `catalog/papers/{pid}.yaml`.", icon=":material/check_circle:")
        st.code(draft.yaml(), language="yaml")
        st.download_button("Download the YAML file", draft.yaml(), file_name=f"{pid}.yaml", mime="application/x-yaml",
                           key="contribute_download")
        st.markdown("Then, in your clone of the repository:")
        st.code(
            f"git checkout -b add-{pid}\n"
            f"mv ~/Downloads/{pid}.yaml catalog/papers/\n"
            "diffatlas validate && diffatlas render && diffatlas bib export -o bib/catalog.bib\n"
            f"git add catalog/papers/{pid}.yaml docs/ bib/catalog.bib\n"
            f"git commit -m \"Add {pid}\"\n"
            f"git push -u origin add-{pid}   # then open the pull request",
            language="bash",
        )
