"""Evaluation: clustering and detection scores, and the runs stored in the workspace."""

import streamlit as st

from comicfaces.dashboard.views import common, evaluation, features

context = common.page_setup(
    "Evaluation", ":material/analytics:", "Scores of the clusters against known identities, and the runs stored in the workspace."
)
face_set = features.faces(context, stop_when_empty=False)
if len(face_set):
    metrics, detection, table = evaluation.run(context)
    evaluation.overview_cards(metrics)
    st.subheader("Clustering against identities")
    evaluation.score_cards(metrics)
    evaluation.detection_cards(detection)
    evaluation.save_button(context, (metrics, detection, table))
evaluation.stored_runs(context)
