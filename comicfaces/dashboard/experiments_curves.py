"""Curves of fitted estimators that the pipeline does not store: training losses and the choice of k.

The pipeline caches only the outputs of a stage (features, labels), so the
dashboard gets these curves itself:

* **Training loss of a learned feature extractor** (SimCLR, whose fitted
  ``loss_history_`` contains the mean loss per epoch). When the features are not
  on disk yet, :func:`train_features` fits the extractor here instead of in
  the pipeline, and writes the features under the key the pipeline reads,
  with the loss history in the entry's metadata. The pipeline then loads them
  from disk, so the extractor is trained once. Features written by the
  command line have no history, so :func:`loss_curve_section` offers to train
  again.
* **Choice of the number of clusters** (``n_clusters="auto"`` of k-means and
  agglomerative clustering: the silhouette per k; spectral clustering with
  ``n_clusters=None``: the eigengap per k and the Laplacian eigenvalues).
  :func:`k_choice` fits the clusterer again on the reduced features, with
  the same parameters and seed as the labels the pages show, and caches the
  curve in memory.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import streamlit as st

from comicfaces.cache import make_key, save_array
from comicfaces.dashboard import cached, experiments_charts
from comicfaces.dashboard.cached import Context

logger = logging.getLogger(__name__)

#: Metadata field of a features cache entry that holds the loss per epoch.
LOSS_HISTORY_FIELD = "loss_history"


# -- training loss ----------------------------------------------------------------------


def records_loss_history(name: str) -> bool:
    """Return True when the feature extractor registered as ``name`` trains with a loss per epoch."""
    from comicfaces.features import FEATURES
    from comicfaces.features.simclr import SimCLRFeatures

    cls = FEATURES.get(name)
    return isinstance(cls, type) and issubclass(cls, SimCLRFeatures)


def features_key(faces_key: str, config) -> str:
    """Return the cache key of the features of a face set.

    NOTE: this repeats the key of :func:`comicfaces.pipeline.compute_features`;
    if that key changes, the features trained here are not found and the
    pipeline trains again (tests/test_experiments_page.py checks that it does not).
    """
    return make_key("features", faces_key, dataclasses.asdict(config.features))


def stored_loss_history(workspace, key: str) -> list[float] | None:
    """Return the loss per epoch stored with the features entry ``key``, or None when it has none."""
    if not workspace.has("features", key):
        return None
    history = workspace.read_meta("features", key).get(LOSS_HISTORY_FIELD)
    return [float(value) for value in history] if isinstance(history, list) else None


def train_features(context: Context) -> bool:
    """Fit the current feature extractor with a progress bar and store its features and loss history.

    Does nothing when the features are already on disk. Returns True when it
    trained. The crops are read as :func:`comicfaces.pipeline.compute_features`
    reads them, and the features go to the same cache entry.
    """
    from comicfaces.features import make_features
    from comicfaces.imageio import load_image

    workspace = cached.get_workspace(context.workspace_root)
    face_set, _ = cached.face_set(context).value
    key = features_key(face_set.key, context.config)
    if workspace.has("features", key):
        return False
    if len(face_set) == 0:
        raise ValueError("no faces to describe: the face set is empty")

    section = context.config.features
    progress = cached.StageProgress(f"{section.name} training")
    try:
        crops = []
        for index, path in enumerate(face_set.table["crop"]):
            crops.append(load_image(path, max_side=1024))
            progress("reading crops", index + 1, len(face_set))
        extractor = make_features(section.name, **section.params)
        start = time.perf_counter()
        if "progress" in inspect.signature(extractor.fit).parameters:
            extractor.fit(crops, progress=lambda done, total: progress("training steps", done, total))
        else:
            extractor.fit(crops)
        progress("embedding crops", 0, 1)
        features = np.asarray(extractor.transform(crops), dtype=np.float32)
        seconds = time.perf_counter() - start
    finally:
        progress.close()

    history = [float(value) for value in getattr(extractor, "loss_history_", [])]
    meta = {"faceset": face_set.key, "seconds": seconds, LOSS_HISTORY_FIELD: history}
    with workspace.writing("features", key, meta) as folder:
        save_array(folder, "features", features)
    logger.info("trained %s on %d crops in %.1f s; features stored as %s", section.name, len(crops), seconds, key[:12])
    return True


def forget_features(context: Context, key: str) -> None:
    """Delete the features entry ``key`` and the in-memory stage results, so the next run trains again.

    Stages after the features (reduction, clustering) stay on disk under keys
    derived from ``key``. They remain valid when training is reproducible,
    which SimCLR documents for a fixed ``random_state`` on one device.
    """
    cached.get_workspace(context.workspace_root).delete_entry("features", key)
    st.cache_data.clear()


def loss_curve_section(context: Context, key: str) -> None:
    """Show the training loss per epoch of the current features, or offer to train again to record it."""
    workspace = cached.get_workspace(context.workspace_root)
    name = context.config.features.name
    st.subheader("Training loss")
    history = stored_loss_history(workspace, key)
    if not history:
        st.info(
            f"No loss history is stored with these `{name}` features: they were computed outside the dashboard "
            "(the command line or a sweep). Train again here to record the loss per epoch."
        )
        if st.button("Train again and record the loss", key="retrain_features"):
            forget_features(context, key)
            st.rerun()
        return
    st.plotly_chart(experiments_charts.loss_curve_figure(history, f"{name}: mean loss per epoch"), width="stretch")
    if len(history) == 1:
        st.caption(f"1 epoch, mean loss {history[0]:.4f}.")
    else:
        st.caption(f"{len(history)} epochs, mean loss {history[0]:.4f} in the first and {history[-1]:.4f} in the last.")


# -- choice of the number of clusters ---------------------------------------------------


@dataclass(frozen=True)
class KChoice:
    """Scores of an automatic choice of the number of clusters.

    Attributes
    ----------
    method : str
        Clusterer that chose k (the base clusterer of ``cannot_link``).
    criterion : str
        ``"silhouette"`` or ``"eigengap"``.
    curve : dict of int to float
        Score per tried k; empty when too few faces left no candidate.
    chosen : int
        Number of clusters the clusterer used.
    eigenvalues : tuple of float
        Smallest Laplacian eigenvalues (spectral clustering only).
    """

    method: str
    criterion: str
    curve: dict
    chosen: int
    eigenvalues: tuple = ()


def _automatic_k_method(name: str, params: dict) -> tuple[str, dict] | None:
    """Return ``(method, params)`` of the clusterer that chooses k, or None when k is given.

    ``cannot_link`` is followed to its base clusterer, which does the choosing.
    """
    from comicfaces.clustering import (
        AUTO,
        AgglomerativeClusterer,
        CannotLinkSplit,
        KMeansClusterer,
        SpectralClusterer,
        make_clusterer,
    )

    estimator = make_clusterer(name, **params)
    if isinstance(estimator, CannotLinkSplit):
        config = estimator.get_config()
        return _automatic_k_method(config.base, dict(config.base_params or {}))
    if isinstance(estimator, (KMeansClusterer, AgglomerativeClusterer)):
        config = estimator.get_config()
        automatic = config.n_clusters == AUTO and getattr(config, "distance_threshold", None) is None
        return (name, params) if automatic else None
    if isinstance(estimator, SpectralClusterer):
        return (name, params) if estimator.get_config().n_clusters is None else None
    return None


def chooses_k(context: Context) -> bool:
    """Return True when the current clusterer chooses the number of clusters itself from a curve."""
    section = context.config.clustering
    return _automatic_k_method(section.name, dict(section.params)) is not None


@st.cache_data(show_spinner=False, max_entries=cached.MAX_ENTRIES)
def _k_choice(request: dict, method: str, params_json: str, _embedding: np.ndarray) -> KChoice:
    # The request identifies the embedding, so the array itself is left out of the cache key.
    from comicfaces.clustering import make_clusterer

    clusterer = make_clusterer(method, **json.loads(params_json))
    clusterer.fit(_embedding)
    curve = {int(k): float(v) for k, v in (clusterer.selection_curve_ or {}).items()}
    eigenvalues = getattr(clusterer, "eigenvalues_", None)
    return KChoice(
        method=method,
        criterion="eigengap" if eigenvalues is not None else "silhouette",
        curve=curve,
        chosen=int(clusterer.n_clusters_),
        eigenvalues=tuple(float(v) for v in eigenvalues) if eigenvalues is not None else (),
    )


def k_choice(context: Context) -> KChoice | None:
    """Return the curve of the automatic choice of k of the current clusterer, or None when k is given."""
    section = context.config.clustering
    found = _automatic_k_method(section.name, dict(section.params))
    if found is None:
        return None
    method, params = found
    embedding = cached.reduction(context).value
    return _k_choice(context.request("clustering"), method, json.dumps(params, sort_keys=True), embedding)


def k_selection_section(context: Context) -> None:
    """Show how the number of clusters was chosen, when the clusterer chose it; show nothing otherwise."""
    selection = k_choice(context)
    if selection is None:
        return
    st.subheader("Choice of the number of clusters")
    if not selection.curve:
        st.info(f"`{selection.method}` had too few faces to compare numbers of clusters and used {selection.chosen}.")
        return
    left, right = st.columns(2) if selection.eigenvalues else (st.container(), None)
    left.plotly_chart(
        experiments_charts.selection_curve_figure(selection.curve, selection.chosen, selection.criterion), width="stretch"
    )
    if right is not None:
        right.plotly_chart(experiments_charts.eigenvalues_figure(selection.eigenvalues, selection.chosen), width="stretch")
    if selection.criterion == "silhouette":
        how = "the k with the highest mean silhouette coefficient"
    else:
        how = "the k after which the Laplacian eigenvalues jump the most (the eigengap)"
    tried = sorted(selection.curve)
    st.caption(f"`{selection.method}` tried k = {tried[0]} to {tried[-1]} and chose {how}: k = {selection.chosen}.")
