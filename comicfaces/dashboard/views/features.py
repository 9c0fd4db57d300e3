"""Features page: the feature extractor, the shape of the matrix, a heatmap and a summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, charts, experiments_curves, widgets
from comicfaces.dashboard.views import common


def settings() -> None:
    """Sidebar choice of the feature extractor and its parameters."""
    from comicfaces import features as registry

    descriptions = getattr(registry, "FEATURE_DESCRIPTIONS", None)
    widgets.estimator_form("features", "Feature extractor", sorted(registry.FEATURES), registry.make_features, descriptions)


def faces(context: cached.Context, stop_when_empty: bool = True):
    """Return the face set, showing where it came from and any skipped input files.

    With ``stop_when_empty`` the page stops after a warning when no face was found.
    """
    output = common.guarded(cached.face_set, context, what="Finding the faces")
    face_set, _ = output.value
    common.show_origin(output, "Faces")
    if face_set.errors:
        st.warning(f"{len(face_set.errors)} input file(s) skipped because they could not be read.")
        with st.expander("Skipped files"):
            st.dataframe(pd.DataFrame(face_set.errors), hide_index=True, width="stretch")
    if len(face_set) == 0:
        st.warning("No face was found, so there is nothing to describe. Try other face parameters or another input.")
        if stop_when_empty:
            st.stop()
    return face_set


def run(context: cached.Context) -> np.ndarray:
    """Compute the feature matrix and show where it came from.

    An extractor trained with a loss (SimCLR) is fitted here first, so that
    its loss per epoch is stored with the features; the curve is shown below
    the origin badge.
    """
    learned = experiments_curves.records_loss_history(context.config.features.name)
    trained_now = False
    if learned:
        trained_now = common.guarded(experiments_curves.train_features, context, what="Feature training")
    output = common.guarded(cached.features, context, what="Feature extraction")
    common.show_origin(output, "Features")
    if trained_now:
        st.caption(f"`{context.config.features.name}` was trained now; the features were stored and read back from the disk cache.")
    if learned:
        experiments_curves.loss_curve_section(context, output.key)
    return output.value


def summary(matrix: np.ndarray, context: cached.Context) -> None:
    """Show the shape of the matrix and per-column statistics."""
    config = context.config.features
    columns = st.columns(4)
    columns[0].metric("Faces (rows)", matrix.shape[0])
    columns[1].metric("Features (columns)", matrix.shape[1])
    columns[2].metric("dtype", str(matrix.dtype))
    columns[3].metric("Constant columns", int(np.sum(matrix.std(axis=0) == 0)))
    st.caption(f"Extractor `{config.name}` with parameters `{config.params or 'defaults'}`.")

    norms = np.linalg.norm(matrix, axis=1)
    stats = pd.DataFrame(
        {
            "statistic": ["min", "mean", "max", "row L2 norm (mean)", "share of zeros"],
            "value": [matrix.min(), matrix.mean(), matrix.max(), norms.mean(), float(np.mean(matrix == 0))],
        }
    )
    st.dataframe(stats, hide_index=True)


def heatmap(matrix: np.ndarray, face_set) -> None:
    """Show a heatmap of the first faces and feature columns."""
    st.subheader("Heatmap")
    st.caption("First 60 faces and 200 columns, each column scaled to zero mean and unit variance.")
    st.plotly_chart(charts.feature_heatmap(matrix, list(face_set.table["face_id"])), width="stretch")
