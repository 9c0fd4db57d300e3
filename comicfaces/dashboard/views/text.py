"""Text page: text lines and speech balloons over each page, and the blanked page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, draw, widgets
from comicfaces.dashboard.views import common


def settings() -> None:
    """Sidebar form of the text parameters."""
    widgets.section_form("text", "Text and balloon parameters")


def load_engine(context: cached.Context) -> None:
    """Load the OCR text detector once per server process (skipped when text detection is off)."""
    if not context.config.text.enabled:
        st.info("Text detection is switched off (enabled = False): pages are used as they are.")
        return
    common.guarded(cached.text_engine, what="Loading the text detector")
    st.caption("Text detector: rapidocr PP-OCR detection model, loaded once per server (st.cache_resource).")


def run(context: cached.Context) -> list:
    """Run the panel and text stages on every page and show where the result came from."""
    output = common.guarded(cached.page_results, context, "text", what="Text detection")
    common.show_origin(output, "Text")
    common.skipped_pages(output.value)
    return output.value


def overview(results: list) -> None:
    """Show the number of text boxes and balloons per page."""
    usable = [r for r in results if r.error is None]
    counts = pd.DataFrame(
        {
            "page": [r.page_id for r in usable],
            "text boxes": [len(r.text_boxes) for r in usable],
            "balloons": [len(r.balloon_boxes) for r in usable],
        }
    )
    st.dataframe(counts, hide_index=True, width="stretch", height=min(250, 40 + 35 * len(counts)))


def page_view(context: cached.Context, page) -> None:
    """Draw text (red) and balloon (yellow) boxes over the page, with the blanked page beside it."""
    image, scale = common.guarded(common.display_page, context, page.page_id, what="Loading the page")
    left, right = st.columns(2)
    left.image(
        draw.draw_text(image, page.text_boxes, page.balloon_boxes, scale),
        caption=f"{len(page.text_boxes)} text box(es) in red, {len(page.balloon_boxes)} balloon(s) in yellow",
        width="stretch",
    )
    if page.cleaned_path is not None:
        cleaned = common.guarded(cached.image_file, str(page.cleaned_path), what="Loading the blanked page")
        right.image(cleaned, caption="Blanked page: the face detectors run on this", width="stretch")
