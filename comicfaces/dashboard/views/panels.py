"""Panels page: the panels found on each page, numbered in reading order."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, draw, widgets
from comicfaces.dashboard.views import common


def settings() -> None:
    """Sidebar form of the panel parameters."""
    widgets.section_form("panels", "Panel parameters")


def run(context: cached.Context) -> list:
    """Run the panel stage on every page and show where the result came from."""
    output = common.guarded(cached.page_results, context, "panels", what="Panel extraction")
    common.show_origin(output, "Panels")
    common.skipped_pages(output.value)
    return output.value


def overview(results: list) -> None:
    """Show the number of panels per page."""
    counts = pd.DataFrame(
        {"page": [r.page_id for r in results if r.error is None], "panels": [len(r.panels) for r in results if r.error is None]}
    )
    if len(counts) > 1:
        st.bar_chart(counts, x="page", y="panels", height=220)


def page_view(context: cached.Context, page) -> None:
    """Draw the panels of one page with their reading-order numbers, and list their boxes."""
    image, scale = common.guarded(common.display_page, context, page.page_id, what="Loading the page")
    left, right = st.columns([3, 2])
    left.image(draw.draw_panels(image, page.panels, scale), caption=f"{page.page_id}: {len(page.panels)} panel(s)", width="stretch")
    boxes = pd.DataFrame(page.panels.round().astype(int), columns=["x0", "y0", "x1", "y1"])
    boxes.insert(0, "order", range(1, len(boxes) + 1))
    right.markdown("**Panels in reading order** (page pixels)")
    right.dataframe(boxes, hide_index=True, width="stretch")
    if len(page.panels) == 0:
        right.info("No panel found; the faces on this page get panel -1.")
