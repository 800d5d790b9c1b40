"""diffatlas web app: entry point. Run with `diffatlas app [--catalog DIR]`.

This script is the router: it declares the pages (one script each in
app/views/) with st.navigation and runs the selected one. Pages are thin
layouts over the `diffatlas` library.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

import streamlit as st  # noqa: E402

import appkit  # noqa: E402

# The favicon is a file served by the app itself: a ":material/..." page icon is fetched from a
# font CDN and fails offline (tests/test_browser_offline.py).
st.set_page_config(page_title="diffatlas", page_icon=str(APP_DIR / "icon.png"), layout="wide")

views = APP_DIR / "views"
# Optional pages (Demos, Contribute) are owned by other parts of the project and
# appear when their script exists.
pages = {
    "overview": st.Page(views / "overview.py", title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
    "taxonomy": st.Page(views / "taxonomy.py", title="Taxonomy explorer", icon=":material/account_tree:", url_path="taxonomy"),
    "papers": st.Page(views / "papers.py", title="Papers", icon=":material/article:", url_path="papers"),
    "map": st.Page(views / "map.py", title="Bibliometric map", icon=":material/hub:", url_path="map"),
    "surveys": st.Page(views / "surveys.py", title="Surveys", icon=":material/compare:", url_path="surveys"),
}
if (views / "demos.py").is_file():
    pages["demos"] = st.Page(views / "demos.py", title="Demos", icon=":material/play_circle:", url_path="demos")
pages["leaderboard"] = st.Page(views / "leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", url_path="leaderboard")
pages["validation"] = st.Page(views / "validation.py", title="Catalog check", icon=":material/rule:", url_path="validation")
if (views / "contribute.py").is_file():
    pages["contribute"] = st.Page(views / "contribute.py", title="Contribute a paper", icon=":material/add_circle:", url_path="contribute")
appkit.PAGES.clear()
appkit.PAGES.update(pages)

sections = {
    "Explore": [pages[k] for k in ("overview", "taxonomy", "papers", "map", "surveys")],
    "Measure": [pages[k] for k in ("demos", "leaderboard") if k in pages],
    "Catalog": [pages[k] for k in ("validation", "contribute") if k in pages],
}
current = st.navigation({name: items for name, items in sections.items() if items})
appkit.note_unknown_url_params(current.url_path or "overview")
with st.sidebar:
    st.caption("diffatlas: the efficient-diffusion literature as a curated catalog, "
               "three survey taxonomies, maps and measured demos.")
current.run()
