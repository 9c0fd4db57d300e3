"""Plotly figures of the dashboard: variance, scatter, cluster sizes, metrics, heatmaps, review charts.

Functions return ``plotly.graph_objects.Figure`` objects and never call
Streamlit, so they can be tested and reused in notebooks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from comicfaces.dashboard.draw import PALETTE, colour_hex

NOISE_LABEL = "noise"
NOISE_COLOUR = "#94a3b8"
_COLOURS = [colour_hex(c) for c in PALETTE]


def explained_variance_figure(ratio: np.ndarray, kept: int | None = None) -> go.Figure:
    """Bar chart of the variance share per principal component, with the cumulative share.

    ``kept`` draws a vertical line after the number of components the
    reduction keeps.
    """
    components = np.arange(1, len(ratio) + 1)
    figure = go.Figure()
    figure.add_bar(x=components, y=ratio, name="per component", marker_color=_COLOURS[0])
    figure.add_scatter(x=components, y=np.cumsum(ratio), name="cumulative", mode="lines", line_color=_COLOURS[1])
    if kept:
        figure.add_vline(x=kept + 0.5, line_dash="dash", line_color="#475569", annotation_text=f"kept: {kept}")
    figure.update_layout(
        xaxis_title="principal component",
        yaxis_title="share of variance",
        yaxis_range=[0, 1.02],
        height=340,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.1},
    )
    return figure


def cluster_names(labels: Sequence[int]) -> list[str]:
    """Return display names of cluster labels: ``cluster 3``, or ``noise`` for -1."""
    return [NOISE_LABEL if int(label) == -1 else f"cluster {int(label)}" for label in labels]


def scatter_figure(view: np.ndarray, table: pd.DataFrame, colour_by: str, title: str) -> go.Figure:
    """Scatter of a 2-D view of the faces, one point per row of ``table``.

    ``colour_by`` is a column of ``table`` (``cluster`` or ``identity``);
    hovering shows the face id, page and both labels where present.
    """
    frame = pd.DataFrame({"x": view[:, 0], "y": view[:, 1]})
    frame["face"] = table["face_id"].astype(str).to_numpy()
    for column in ("page", "cluster", "identity"):
        if column in table:
            frame[column] = table[column].astype(str).to_numpy()
    if colour_by == "cluster":
        frame["colour"] = cluster_names(table["cluster"])
    else:
        frame["colour"] = table[colour_by].fillna("unlabelled").astype(str).to_numpy()
    hover = [c for c in ("face", "page", "cluster", "identity") if c in frame]
    figure = px.scatter(
        frame,
        x="x",
        y="y",
        color="colour",
        hover_data=hover,
        color_discrete_sequence=_COLOURS,
        color_discrete_map={NOISE_LABEL: NOISE_COLOUR, "unlabelled": NOISE_COLOUR},
        category_orders={"colour": sorted(frame["colour"].unique(), key=_noise_last)},
        labels={"x": "dimension 1", "y": "dimension 2"},
        title=title,
    )
    figure.update_traces(marker={"size": 9, "line": {"width": 0.5, "color": "white"}})
    figure.update_layout(height=520, legend_title_text=colour_by, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def _noise_last(name: str) -> tuple:
    if name in (NOISE_LABEL, "unlabelled"):
        return (1, 0, name)
    number = name.split()[-1]
    return (0, int(number), name) if number.isdigit() else (0, 0, name)


def cluster_sizes_figure(labels: np.ndarray) -> go.Figure:
    """Bar chart of faces per cluster, largest first, noise last in grey."""
    sizes = cluster_order(labels)
    names = cluster_names([label for label, _ in sizes])
    colours = [NOISE_COLOUR if name == NOISE_LABEL else _COLOURS[0] for name in names]
    figure = go.Figure(go.Bar(x=names, y=[size for _, size in sizes], marker_color=colours))
    figure.update_layout(
        xaxis_title=None, yaxis_title="faces", height=300, margin={"l": 10, "r": 10, "t": 20, "b": 10}
    )
    return figure


def cluster_order(labels: np.ndarray) -> list[tuple[int, int]]:
    """Return ``(label, size)`` pairs, largest cluster first and the noise bucket last."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    pairs = [(int(v), int(c)) for v, c in zip(values, counts)]
    clusters = sorted((p for p in pairs if p[0] != -1), key=lambda p: (-p[1], p[0]))
    noise = [p for p in pairs if p[0] == -1]
    return clusters + noise


#: Scores shown side by side for the two treatments of noise, with their display names.
EXTERNAL_SCORES = [
    ("pairwise_precision", "pairwise P"),
    ("pairwise_recall", "pairwise R"),
    ("pairwise_f1", "pairwise F1"),
    ("bcubed_precision", "BCubed P"),
    ("bcubed_recall", "BCubed R"),
    ("bcubed_f1", "BCubed F1"),
    ("nmi", "NMI"),
    ("ari", "ARI"),
]

NOISE_TREATMENTS = {"excl_noise": "noise excluded", "singletons": "noise as singletons"}


def metrics_figure(metrics: dict) -> go.Figure:
    """Grouped bars of the external scores, one group per score, one bar per noise treatment."""
    figure = go.Figure()
    for index, (suffix, title) in enumerate(NOISE_TREATMENTS.items()):
        values = [metrics.get(f"{name}_{suffix}") for name, _ in EXTERNAL_SCORES]
        figure.add_bar(
            x=[label for _, label in EXTERNAL_SCORES],
            y=[np.nan if v is None else v for v in values],
            name=title,
            marker_color=_COLOURS[index],
            text=["n/a" if v is None else f"{v:.2f}" for v in values],
            textposition="outside",
        )
    figure.update_layout(
        barmode="group",
        yaxis_range=[min(0.0, _min_score(metrics)) , 1.1],
        height=360,
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        legend={"orientation": "h", "y": 1.12},
    )
    return figure


def _min_score(metrics: dict) -> float:
    values = [metrics.get(f"{name}_{suffix}") for name, _ in EXTERNAL_SCORES for suffix in NOISE_TREATMENTS]
    values = [v for v in values if v is not None]
    # ARI is negative for worse-than-chance clusterings.
    return min(values) - 0.05 if values and min(values) < 0 else 0.0


def detection_figure(per_detector: pd.DataFrame) -> go.Figure:
    """Bars of precision and recall per row of a table with columns ``name``, ``precision``, ``recall``."""
    figure = go.Figure()
    for index, column in enumerate(("precision", "recall")):
        figure.add_bar(x=per_detector["name"], y=per_detector[column], name=column, marker_color=_COLOURS[index])
    figure.update_layout(barmode="group", yaxis_range=[0, 1.05], height=300, margin={"l": 10, "r": 10, "t": 20, "b": 10})
    return figure


def feature_heatmap(features: np.ndarray, face_ids: Sequence[str], max_rows: int = 60, max_columns: int = 200) -> go.Figure:
    """Heatmap of the first faces and feature columns, each column scaled to zero mean, unit variance."""
    block = np.asarray(features[:max_rows, :max_columns], dtype=np.float64)
    spread = block.std(axis=0)
    spread[spread == 0] = 1.0
    block = (block - block.mean(axis=0)) / spread
    figure = go.Figure(
        go.Heatmap(
            z=block,
            y=[str(f) for f in list(face_ids)[:max_rows]],
            colorscale="RdBu_r",
            zmid=0,
            colorbar={"title": "z-score"},
        )
    )
    figure.update_layout(
        xaxis_title="feature column",
        yaxis_title="face",
        height=min(700, 120 + 12 * len(block)),
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
    )
    return figure


# -- review page ---------------------------------------------------------------------------

#: Points above which the review map draws with WebGL (``Scattergl``), which stays
#: responsive for tens of thousands of faces.
WEBGL_POINTS = 2000
#: Groups above which the review map hides its legend.
MAX_LEGEND_GROUPS = 30


def review_scatter_figure(points: np.ndarray, frame: pd.DataFrame, colour: str, title: str) -> tuple[go.Figure, list[list[str]]]:
    """Scatter of a 2-D view for selecting faces: one trace per colour group.

    Parameters
    ----------
    points : ndarray of shape (n, 2)
        Map coordinates, one row per row of ``frame``.
    frame : DataFrame
        ``face_id``, the ``colour`` column (group of each point, ``noise``
        and ``unlabelled`` drawn grey) and any columns to show on hover.
    colour : str
        Legend title.
    title : str

    Returns
    -------
    figure : Figure
        Lasso selection is the drag mode; each point's ``customdata`` is its face id.
    faces : list of list of str
        Face ids of each trace in point order, which maps a selection event's
        ``curve_number`` and ``point_index`` back to faces.
    """
    trace_type = go.Scattergl if len(frame) > WEBGL_POINTS else go.Scatter
    hover_columns = [c for c in frame.columns if c not in ("colour",)]
    groups = sorted(frame["colour"].astype(str).unique(), key=_noise_last)
    figure = go.Figure()
    faces: list[list[str]] = []
    for index, group in enumerate(groups):
        members = np.flatnonzero(frame["colour"].astype(str).to_numpy() == group)
        part = frame.iloc[members]
        hover = pd.Series("", index=part.index)
        for position, column in enumerate(hover_columns):
            hover = hover + ("<br>" if position else "") + f"{column}: " + part[column].astype(str)
        grey = group in (NOISE_LABEL, "unlabelled", "(none)")
        figure.add_trace(
            trace_type(
                x=points[members, 0],
                y=points[members, 1],
                mode="markers",
                name=group,
                customdata=part["face_id"].astype(str).to_numpy(),
                hovertext=hover.tolist(),
                hoverinfo="text",
                marker={"size": 9, "color": NOISE_COLOUR if grey else _COLOURS[index % len(_COLOURS)], "line": {"width": 0.5, "color": "white"}},
            )
        )
        faces.append(part["face_id"].astype(str).tolist())
    figure.update_layout(
        title=title,
        height=520,
        dragmode="lasso",
        uirevision="review-map",
        showlegend=len(groups) <= MAX_LEGEND_GROUPS,
        legend_title_text=colour,
        xaxis_title="dimension 1",
        yaxis_title="dimension 2",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure, faces


def identity_scores_figure(scores: pd.DataFrame, max_identities: int = 40) -> go.Figure:
    """Grouped bars of the precision and recall of each identity in its majority cluster.

    ``scores`` is :func:`comicfaces.dashboard.review_model.identity_scores`
    output; the identities with most faces are drawn first.
    """
    shown = scores.head(max_identities)
    figure = go.Figure()
    for index, column in enumerate(("precision", "recall")):
        figure.add_bar(x=shown["identity"], y=shown[column], name=column, marker_color=_COLOURS[index])
    figure.update_layout(
        barmode="group",
        yaxis_range=[0, 1.05],
        height=320,
        xaxis_title="identity",
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        legend={"orientation": "h", "y": 1.12},
    )
    return figure


def confusion_figure(table: pd.DataFrame) -> go.Figure:
    """Heatmap of labelled faces per cluster (rows) and identity (columns), with the counts written in."""
    figure = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=[str(c) for c in table.columns],
            y=[str(i) for i in table.index],
            colorscale="Blues",
            text=table.to_numpy(),
            texttemplate="%{text}",
            colorbar={"title": "faces"},
            hovertemplate="%{y} / %{x}: %{z} face(s)<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis_title="identity",
        yaxis_title="cluster",
        yaxis_autorange="reversed",
        height=min(900, 160 + 24 * len(table)),
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
    )
    return figure


def cluster_size_histogram(labels: np.ndarray) -> go.Figure:
    """Histogram of cluster sizes: how many clusters have 1, 2, 3, ... faces (noise left out)."""
    labels = np.asarray(labels)
    _, sizes = np.unique(labels[labels != -1], return_counts=True)
    values, counts = np.unique(sizes, return_counts=True)
    figure = go.Figure(go.Bar(x=values, y=counts, marker_color=_COLOURS[0]))
    figure.update_layout(
        xaxis_title="faces in the cluster",
        yaxis_title="clusters",
        height=280,
        bargap=0.1,
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
    )
    return figure


def detections_per_page_figure(table: pd.DataFrame) -> go.Figure:
    """Stacked bars of faces per page, one colour per detector (``manual`` for faces added by hand)."""
    counts = table.groupby(["page", "detector"]).size().unstack(fill_value=0)
    figure = go.Figure()
    for index, detector in enumerate(counts.columns):
        figure.add_bar(x=[str(page) for page in counts.index], y=counts[detector], name=str(detector), marker_color=_COLOURS[index % len(_COLOURS)])
    figure.update_layout(
        barmode="stack",
        xaxis_title="page",
        yaxis_title="faces",
        height=300,
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        legend={"orientation": "h", "y": 1.12},
    )
    return figure
