"""Faces: face boxes of every detector over each page, the crops, and detection scores."""

import streamlit as st

from comicfaces.dashboard.views import common, faces

context = common.page_setup(
    "Faces",
    ":material/face:",
    "Several face detectors run on the blanked page; their boxes are merged, filtered and cropped.",
)
faces.settings(context)
if common.needs_pages(context):
    results = faces.run(context)
    colours = faces.detector_palette(context, results)
    faces.overview(results, colours)
    page = common.page_picker(results)
    if page is not None:
        st.subheader(page.page_id)
        faces.page_view(context, page, colours)
    faces.detection_scores(context)
