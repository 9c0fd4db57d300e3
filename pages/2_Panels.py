"""Panels: the panel boxes of each page, numbered in reading order."""

import streamlit as st

from comicfaces.dashboard.views import common, panels

context = common.page_setup("Panels", ":material/grid_view:", "Each page is split into panels; the numbers give the reading order.")
panels.settings()
if common.needs_pages(context):
    results = panels.run(context)
    panels.overview(results)
    page = common.page_picker(results)
    if page is not None:
        st.subheader(page.page_id)
        panels.page_view(context, page)
