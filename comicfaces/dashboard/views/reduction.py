"""Reduction page: none or PCA, the explained variance, and a 2-D scatter of the faces."""

from __future__ import annotations

import streamlit as st

from comicfaces.dashboard import cached, charts, experiments_curves, widgets
from comicfaces.dashboard.views import common

VIEW_METHODS = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}


def settings() -> None:
    """Sidebar choice of the reducer and its parameters."""
    from comicfaces.reduction import REDUCERS, make_reducer

    widgets.estimator_form("reduction", "Reduction", sorted(REDUCERS), make_reducer)


def run(context: cached.Context):
    """Compute the reduced features and show where they came from."""
    output = common.guarded(cached.reduction, context, what="Reduction")
    common.show_origin(output, "Reduction")
    embedding = output.value
    features = common.guarded(cached.features, context, what="Feature extraction").value
    columns = st.columns(3)
    columns[0].metric("Faces", embedding.shape[0])
    columns[1].metric("Features in", features.shape[1])
    columns[2].metric("Dimensions out", embedding.shape[1])
    return embedding


def variance(context: cached.Context, embedding) -> None:
    """Chart the explained variance of the principal components of the features."""
    st.subheader("Explained variance")
    output = common.guarded(cached.explained_variance, context, what="Explained variance")
    ratio = output.value
    kept = embedding.shape[1] if context.config.reduction.name == "pca" else None
    st.plotly_chart(charts.explained_variance_figure(ratio, kept), width="stretch")
    share = float(ratio[:kept].sum()) if kept else None
    if share is not None:
        st.caption(f"The {kept} kept component(s) explain {share:.1%} of the variance of the first {len(ratio)}.")
    else:
        st.caption("Reduction `none`: clustering runs on the features as they are; the chart shows what PCA would keep.")


def scatter(context: cached.Context) -> None:
    """Draw a 2-D projection of the reduced features, coloured by cluster or identity.

    When the clusterer chose the number of clusters itself, its score per k follows.
    """
    st.subheader("2-D view")
    left, right = st.columns(2)
    method = left.radio("Projection", list(VIEW_METHODS), format_func=VIEW_METHODS.get, horizontal=True, key="_w_view_method")
    face_set, _ = common.guarded(cached.face_set, context, what="Finding the faces").value
    options = ["cluster"] + (["identity"] if "identity" in face_set.table and face_set.table["identity"].notna().any() else [])
    colour_by = right.radio("Colour by", options, horizontal=True, key="_w_view_colour")

    view = common.guarded(cached.view, context, method, what=f"The {VIEW_METHODS[method]} view")
    labels = common.guarded(cached.clusters, context, what="Clustering")
    table = face_set.table.copy()
    table["cluster"] = labels.value
    common.show_origin(view, f"2-D {VIEW_METHODS[method]}")
    title = f"{VIEW_METHODS[method]} of the reduced features, coloured by {colour_by}"
    st.plotly_chart(charts.scatter_figure(view.value, table, colour_by, title), width="stretch")
    common.guarded(experiments_curves.k_selection_section, context, what="The choice of the number of clusters")
