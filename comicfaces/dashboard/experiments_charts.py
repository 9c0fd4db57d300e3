"""Plotly figures of the Experiments page and of fitted estimators' curves.

Sweep and run comparisons: a bar chart of one metric over the rows, and a
metric against one parameter. Estimator curves: the training loss per epoch of
a learned feature extractor, and the score per number of clusters of an
automatic choice of k. Functions return ``plotly.graph_objects.Figure`` objects
and never call Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from comicfaces.dashboard.draw import PALETTE, colour_hex

_COLOURS = [colour_hex(c) for c in PALETTE]
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}

#: Metrics where a lower value is better; bars of the others are sorted best first from the top.
LOWER_IS_BETTER = {"davies_bouldin", "seconds"}


def metric_bars(values: Sequence[float], labels: Sequence[str], metric: str) -> go.Figure:
    """Horizontal bars of ``metric``, one per labelled row, best at the top, missing values left out."""
    frame = pd.DataFrame({"label": list(labels), "value": pd.to_numeric(pd.Series(list(values)), errors="coerce")})
    frame = frame.dropna(subset=["value"])
    # Plotly draws the first category at the bottom, so the best row goes last.
    frame = frame.sort_values("value", ascending=metric not in LOWER_IS_BETTER)
    figure = go.Figure(
        go.Bar(
            x=frame["value"],
            y=frame["label"],
            orientation="h",
            marker_color=_COLOURS[0],
            text=[f"{v:.3f}" if isinstance(v, float) and not float(v).is_integer() else f"{v:g}" for v in frame["value"]],
            textposition="outside",
        )
    )
    figure.update_layout(
        title=metric,
        xaxis_title=metric,
        yaxis={"automargin": True},
        height=max(220, 60 + 26 * len(frame)),
        margin=_MARGIN,
    )
    return figure


def metric_against_parameter_figure(frame: pd.DataFrame, metric: str, parameter: str) -> go.Figure:
    """Lines of ``metric`` against ``parameter``, one per setting of the other parameters.

    ``frame`` is the output of
    :func:`~comicfaces.dashboard.experiments_sweeps.metric_against_parameter`.
    A categorical parameter gets points without lines.
    """
    numeric = bool(frame["numeric"].iloc[0]) if len(frame) else False
    draw = px.line if numeric else px.scatter
    options = {"markers": True} if numeric else {}
    figure = draw(
        frame,
        x="value",
        y=metric,
        color="setting",
        color_discrete_sequence=_COLOURS,
        labels={"value": parameter, "setting": "other parameters"},
        title=f"{metric} against {parameter}",
        **options,
    )
    if not numeric:
        figure.update_traces(marker={"size": 11})
    figure.update_layout(height=420, margin=_MARGIN, legend={"orientation": "h", "y": -0.2})
    return figure


def loss_curve_figure(history: Sequence[float], title: str = "Training loss") -> go.Figure:
    """Line of the mean training loss per epoch, epochs counted from 1."""
    epochs = np.arange(1, len(history) + 1)
    figure = go.Figure(go.Scatter(x=epochs, y=list(history), mode="lines+markers", line_color=_COLOURS[0], name="loss"))
    figure.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis_title="mean loss",
        xaxis={"dtick": 1} if len(history) <= 20 else {},
        height=320,
        margin=_MARGIN,
    )
    return figure


def selection_curve_figure(curve: Mapping[int, float], chosen: int | None, criterion: str) -> go.Figure:
    """Line of the selection score per number of clusters ``k``, with the chosen ``k`` marked."""
    ks = sorted(int(k) for k in curve)
    scores = [curve[k] for k in ks]
    figure = go.Figure(go.Scatter(x=ks, y=scores, mode="lines+markers", line_color=_COLOURS[0], name=criterion))
    if chosen is not None:
        figure.add_vline(x=chosen, line_dash="dash", line_color="#475569", annotation_text=f"chosen k = {chosen}")
    figure.update_layout(
        title=f"{criterion} per number of clusters",
        xaxis_title="number of clusters k",
        yaxis_title=criterion,
        height=320,
        margin=_MARGIN,
    )
    return figure


def eigenvalues_figure(eigenvalues: Sequence[float], chosen: int | None) -> go.Figure:
    """Smallest eigenvalues of the normalised graph Laplacian, numbered from 1.

    The eigengap choice of k is the largest jump between eigenvalue k and
    k + 1 (numbered from 1); the chosen k is marked.
    """
    index = np.arange(1, len(eigenvalues) + 1)
    figure = go.Figure(go.Scatter(x=index, y=list(eigenvalues), mode="lines+markers", line_color=_COLOURS[1], name="eigenvalue"))
    if chosen is not None:
        figure.add_vline(x=chosen + 0.5, line_dash="dash", line_color="#475569", annotation_text=f"gap after {chosen}")
    figure.update_layout(
        title="Smallest eigenvalues of the graph Laplacian",
        xaxis_title="eigenvalue number",
        yaxis_title="eigenvalue",
        height=320,
        margin=_MARGIN,
    )
    return figure
