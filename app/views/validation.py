"""Catalog check: every validation problem, with the file, the field and the fix."""

import streamlit as st

import appkit
from diffatlas import explore

catalog = appkit.get_catalog()
st.title("Catalog check")
if not catalog.problems:
    st.success(f"The catalog is valid: {len(catalog.papers)} entries, {len(catalog.taxonomies)} taxonomies.",
               icon=":material/check_circle:")
    appkit.catalog_caption()
    st.stop()

files = len({p.file for p in catalog.problems})
st.error(f"{len(catalog.problems)} problem(s) in {files} file(s). The app shows the {len(catalog.papers)} "
         "entries that loaded; fix these and reload to see the rest.", icon=":material/error:")
frame = explore.problems_frame(catalog)
st.dataframe(frame, hide_index=True, key="validation_problems")
st.markdown("**Most common problems**")
st.dataframe(frame.groupby(["field", "problem"]).size().rename("files").reset_index()
             .sort_values("files", ascending=False).head(15), hide_index=True, key="validation_common")
st.caption("Run `diffatlas validate` for the same list on the command line.")
appkit.catalog_caption()
