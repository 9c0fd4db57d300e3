"""Text: text lines and speech balloons over each page, and the page with its text blanked."""

import streamlit as st

from comicfaces.dashboard.views import common, text

context = common.page_setup(
    "Text",
    ":material/chat_bubble:",
    "Lettering is found with an OCR text detector, grown to its balloon, and blanked so that face detectors ignore it.",
)
text.settings()
if common.needs_pages(context):
    text.load_engine(context)
    results = text.run(context)
    text.overview(results)
    page = common.page_picker(results)
    if page is not None:
        st.subheader(page.page_id)
        text.page_view(context, page)
