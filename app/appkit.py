"""What every page shares: the cached catalog, cached derived data, small widgets.

Heavy work is cached and keyed on the catalog's content fingerprint (a hash
of every catalog and taxonomy file), so editing a YAML file shows up on the
next rerun while unchanged content is never parsed twice.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from diffatlas import explore, maps
from diffatlas.catalog import Catalog, load_catalog
from diffatlas.htmlsafe import md, md_code
from diffatlas.paths import default_catalog_dir, default_taxonomy_dir

APP_DIR = Path(__file__).resolve().parent
VIEWS = APP_DIR / "views"
PAGES: dict[str, object] = {}  # filled by main.py: key -> st.Page


def catalog_dirs() -> tuple[Path, Path]:
    """--catalog / --taxonomy of `diffatlas app` arrive as environment variables."""
    return Path(default_catalog_dir()).resolve(), Path(default_taxonomy_dir()).resolve()


@st.cache_resource(max_entries=4, show_spinner="Loading the catalog...")
def _load(catalog_dir: str, taxonomy_dir: str, fingerprint: str) -> Catalog:
    return load_catalog(Path(catalog_dir), Path(taxonomy_dir))


def get_catalog() -> Catalog:
    catalog_dir, taxonomy_dir = catalog_dirs()
    fingerprint = explore.catalog_fingerprint(catalog_dir, taxonomy_dir)
    catalog = _load(str(catalog_dir), str(taxonomy_dir), fingerprint)
    st.session_state["catalog_fingerprint"] = fingerprint
    return catalog


def fingerprint() -> str:
    return st.session_state.get("catalog_fingerprint", "")


# -- cached derived data. Arguments with a leading underscore are not hashed, so
# each function also takes `key`, the catalog fingerprint (plus whatever else
# identifies the unhashed arguments). Networks are cached as shared resources
# (read-only, never copied); small results as data.
@st.cache_resource(max_entries=16, show_spinner=False)
def paper_network(_catalog: Catalog, key: str, ids: tuple[str, ...], k: int, min_similarity: float,
                  normalization: str, seed: int):
    papers = [_catalog.papers[i] for i in ids if i in _catalog.papers]
    network = maps.build_paper_network(papers, k=k, min_similarity=min_similarity, normalization=normalization)
    positions = maps.layout(network.graph, seed=seed)
    return network, positions


@st.cache_data(max_entries=64, show_spinner=False)
def clusters_for(_network, key: str, resolution: float, seed: int, min_size: int = 2) -> dict[str, int]:
    return maps.louvain_clusters(_network.graph, resolution=resolution, seed=seed, min_size=min_size)


@st.cache_data(max_entries=32, show_spinner=False)
def map_html(_graph, _clusters, _positions, key: str, kind: str, height: int) -> str:
    return maps.render_html(_graph, _clusters, _positions, kind=kind, height=height)


@st.cache_resource(max_entries=16, show_spinner=False)
def term_network(_catalog: Catalog, key: str, ids: tuple[str, ...], n_terms: int, min_cooccurrence: int, seed: int = 0):
    """The term map, its terms scored with the catalog's keyword vocabulary as the domain's words."""
    papers = [_catalog.papers[i] for i in ids if i in _catalog.papers]
    network = maps.build_term_network(papers, n_terms=n_terms, min_cooccurrence=min_cooccurrence,
                                      vocabulary=_catalog.keywords)
    return network, maps.layout(network.graph, seed=seed, scale=700.0)


DEFAULT_MAP = {"k": 8, "min_similarity": 0.1, "normalization": "cosine", "seed": 0}


def default_network(catalog: Catalog):
    """The TF-IDF index of all non-background papers, for 'similar papers' (cached): the map's
    features, queried one paper at a time, with no network, layout or clustering."""
    ids = tuple(sorted(p.id for p in explore.research_papers(catalog)))
    return _similarity_index(catalog, fingerprint(), ids)


@st.cache_resource(max_entries=4, show_spinner="Indexing the papers...")
def _similarity_index(_catalog: Catalog, key: str, ids: tuple[str, ...]):
    return maps.text_index(_catalog.papers[i] for i in ids if i in _catalog.papers)


# -- one colour per top-level category ------------------------------------------
NOT_FILED = "not filed"
NOT_FILED_COLOUR = "#c8c8c8"


def category_colors(catalog: Catalog, tid: str) -> dict[str, str]:
    """Top-level node name -> colour, the same in every chart of a taxonomy (sunburst, treemap, timeline).

    Colours follow the tree's order through plotly's colour-blind-safe qualitative palette; 'not filed' is grey."""
    import plotly.express as px

    palette = px.colors.qualitative.Safe
    tax = catalog.taxonomies.get(tid)
    names = [n.name for n in tax.nodes] if tax else []
    return {**{name: palette[i % len(palette)] for i, name in enumerate(names)}, NOT_FILED: NOT_FILED_COLOUR}


# -- URL parameters each page reads -------------------------------------------------
# page url path -> the parameters it understands. A page that learns a new parameter adds it here.
URL_PARAMS: dict[str, set[str]] = {
    "overview": set(),
    "taxonomy": {"tax", "node"},
    "papers": {"query", "nodes", "years", "venues", "surveys", "kinds", "keywords", "code", "paper"},
    "map": set(),
    "surveys": set(),
    "demos": {"demo"},
    "leaderboard": {"device", "model", "node", "demo", "mode"},
    "validation": set(),
    "contribute": set(),
}


def unknown_url_params(page: str, names: list[str]) -> list[str]:
    """The URL parameters `page` does not understand (a page missing from URL_PARAMS is not checked)."""
    known = URL_PARAMS.get(page)
    return [] if known is None else sorted(n for n in names if n not in known)


def note_unknown_url_params(page: str) -> None:
    """One caption line naming the URL parameters this page ignores (a mistyped or outdated link)."""
    unknown = unknown_url_params(page, list(st.query_params.keys()))
    if unknown:
        st.caption(f"This page ignores the URL parameter{'s' if len(unknown) > 1 else ''} "
                   + ", ".join(md_code(n) for n in unknown) + "; it understands "
                   + (", ".join(md_code(n) for n in sorted(URL_PARAMS[page])) or "none") + ".")


# -- shared widgets -----------------------------------------------------------
def paper_columns() -> dict:
    """Column settings of every paper table (explore.papers_frame's columns)."""
    return {
        "id": st.column_config.TextColumn("id", width="small"),
        "title": st.column_config.TextColumn("title", width="large"),
        "year": st.column_config.NumberColumn("year", format="%d"),
        "paper": st.column_config.LinkColumn("paper", display_text="open"),
        "code": st.column_config.LinkColumn("code", display_text="code"),
    }


def problems_banner(catalog: Catalog) -> None:
    """On every page: the catalog has problems, so only its valid part is shown."""
    if not catalog.problems:
        return
    files = len({p.file for p in catalog.problems})
    st.warning(
        f"The catalog has {len(catalog.problems)} validation problem(s) in {files} file(s); "
        f"showing the {len(catalog.papers)} valid entries.", icon=":material/warning:")
    if "validation" in PAGES:
        st.page_link(PAGES["validation"], label="See every problem and how to fix it", icon=":material/rule:")


def catalog_caption() -> None:
    catalog_dir, taxonomy_dir = catalog_dirs()
    st.caption(f"Catalog: {md_code(catalog_dir)} \u00b7 taxonomies: {md_code(taxonomy_dir)} \u00b7 content {fingerprint()}")


def page_link_demo(demo_id: str, label: str) -> None:
    """Link to the Demos page with ?demo=<id>, or say that the page is not there yet."""
    if "demos" in PAGES:
        st.page_link(PAGES["demos"], label=md(label), icon=":material/play_circle:", query_params={"demo": demo_id})
    else:
        st.markdown(f"{md(label)} (demo {md_code(demo_id)}; the Demos page is not installed yet)")


def runs_here(paper, heading: bool = True, machine: bool = True) -> None:
    """What was tried to run this framework here, what happened, and which demo measures it instead.

    heading=False titles the block with the entry's name (for a list of them); machine=False leaves out
    the machine, for a list that names it once above."""
    check = explore.runs_here_summary(paper)
    if check is None:
        return
    title = f"**{md(paper.title)}**: " if not heading else "**Does it run here?** "
    where = f" on {md(check['machine'])}" if machine else ""
    st.markdown(f"{title}{md(check['status'])} (tried {md(check['checked'])}{where})")
    st.markdown(f"- Tried: {md(check['tried'])}\n- What happened: {md(check['outcome'])}\n- Why: {md(check['reason'])}")
    if check["instead"]:
        page_link_demo(check["instead"], f"Measured instead: the {check['instead']} demo")
    else:
        st.caption("No demo measures it in its place.")


class Timer:
    """Wall time of a block, for the 'computed in ...' captions."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False
