"""Clustering page: the clustering method, a crop gallery per cluster and the cluster sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, charts, widgets
from comicfaces.dashboard.views import common

#: Crops shown per cluster; a caption gives the count of the rest.
MAX_CROPS_PER_CLUSTER = 40
#: Clusters shown as galleries; the size chart shows all of them.
MAX_GALLERIES = 30


def settings() -> None:
    """Sidebar choice of the clustering method and its parameters."""
    from comicfaces import clustering as registry

    descriptions = getattr(registry, "CLUSTERER_DESCRIPTIONS", None)
    widgets.estimator_form("clustering", "Clustering method", sorted(registry.CLUSTERERS), registry.make_clusterer, descriptions)


def run(context: cached.Context) -> pd.DataFrame:
    """Cluster the faces, show where the labels came from, and return the faces with a ``cluster`` column."""
    output = common.guarded(cached.clusters, context, what="Clustering")
    common.show_origin(output, "Clustering")
    face_set, _ = common.guarded(cached.face_set, context, what="Finding the faces").value
    table = face_set.table.copy()
    table["cluster"] = output.value
    return table


def summary(table: pd.DataFrame) -> None:
    """Show the counts of clusters and noise, and the cluster size chart."""
    labels = table["cluster"].to_numpy()
    noise = int(np.sum(labels == -1))
    columns = st.columns(4)
    columns[0].metric("Faces", len(labels))
    columns[1].metric("Clusters", len(set(labels.tolist()) - {-1}))
    columns[2].metric("Noise faces", noise)
    columns[3].metric("Coverage", f"{1 - noise / len(labels):.0%}" if len(labels) else "n/a")
    st.plotly_chart(charts.cluster_sizes_figure(labels), width="stretch")


def galleries(table: pd.DataFrame, thumb: int = 72, columns: int = 12) -> None:
    """Show one gallery of crops per cluster, largest first, with the noise bucket last."""
    st.subheader("Clusters")
    st.caption("To name, merge, split or move clusters, or to reject and add faces, open the **Review** page.")
    order = charts.cluster_order(table["cluster"].to_numpy())
    has_identity = "identity" in table and table["identity"].notna().any()
    for label, size in order[:MAX_GALLERIES]:
        members = table[table["cluster"] == label]
        name = charts.cluster_names([label])[0]
        heading = f"**{name}**: {size} face(s)"
        if has_identity:
            identities = members["identity"].fillna("unlabelled").value_counts()
            heading += " · " + ", ".join(f"{who} ({count})" for who, count in identities.head(4).items())
        st.markdown(heading)
        paths = tuple(str(p) for p in members["crop"].head(MAX_CROPS_PER_CLUSTER))
        st.image(cached.crop_montage(paths, thumb, columns), width="content")
        if size > MAX_CROPS_PER_CLUSTER:
            st.caption(f"... and {size - MAX_CROPS_PER_CLUSTER} more face(s) in {name}.")
    if len(order) > MAX_GALLERIES:
        st.caption(f"{len(order) - MAX_GALLERIES} smaller cluster(s) not shown; see the size chart above.")


def download(table: pd.DataFrame) -> None:
    """Offer the faces table with cluster labels as CSV."""
    st.download_button(
        "Download faces with clusters (CSV)",
        table.to_csv(index=False).encode("utf-8"),
        file_name="faces_clusters.csv",
        mime="text/csv",
        key="download_clusters",
    )


def k_choice(context: cached.Context) -> None:
    """Show the curve behind an automatically chosen number of clusters, if there is one."""
    from comicfaces.dashboard import experiments_curves

    common.guarded(experiments_curves.k_selection_section, context, what="The choice of the number of clusters")
