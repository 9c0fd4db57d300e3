"""Review: find and fix clustering mistakes (map, galleries, faces in their pages), then export and share."""

import streamlit as st

from comicfaces.dashboard import review_actions, review_detector, review_gallery
from comicfaces.dashboard.views import clustering, common, review

context = common.page_setup(
    "Review",
    ":material/rate_review:",
    "Select faces on the map or in the galleries, then name, merge, split, move, reject or add faces. "
    "Corrections are kept per input and carry over to every clustering of it.",
    require_input=False,
)
review.start()
clustering.settings()
settings = review.settings()
review_actions.show_message()

data = review.run_picker(context)
review.project_import(context)
if data is not None:
    corrections, view, flags = review.corrected(data, settings)
    review.summary(data, view, corrections, flags)
    shown_rows = review.selection_bar(view)
    all_groups = review.groups(view, flags)
    map_column, action_column = st.columns([3, 2])
    with map_column:
        review.map_section(data, view, flags)
    with action_column:
        review.selection_counts(view)
        review_actions.action_panel(data, view, all_groups, corrections)
    shown = all_groups if shown_rows is None else review.groups(view, flags, shown_rows)
    review_gallery.galleries(view, flags, shown, settings.clusters_per_page, settings.faces_per_cluster)
    review_gallery.inspector(view, flags, all_groups, settings.faces_per_cluster)
    review_gallery.face_context(data, view, flags, review_actions)
    review.charts_section(data, view, corrections)
    review_detector.section(data, view)
    review.share_section(context, data, view, corrections)
review.finish()
