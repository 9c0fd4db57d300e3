"""The run under review: its record, faces table, labels and embedding, with Streamlit caches.

Two sources feed the Review page:

* ``current``: the dashboard's results for the session's input and
  parameters, read through :mod:`comicfaces.dashboard.cached`. Its record is
  built in memory with the key that saving it would give (see
  :func:`comicfaces.dashboard.runs.save_run`), so nothing is written until
  :func:`save_current` is called.
* a stored run of the workspace, read with
  :func:`comicfaces.pipeline.load_run_faces`; its embedding is the cached
  ``reduction`` entry named in ``record["stages"]``.

Either way ``record["input"]["key"]`` is filled in (see
:mod:`~comicfaces.dashboard.review_records`), so
:meth:`comicfaces.corrections.Corrections.for_run` finds the corrections of
the input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from comicfaces.dashboard import cached, review_model
from comicfaces.dashboard.review_records import complete_input

logger = logging.getLogger(__name__)

#: Stored runs kept in memory at once, each with its faces table and embedding.
MAX_STORED_RUNS = 4


@dataclass
class RunData:
    """A run ready for review.

    Attributes
    ----------
    token : str
        Identifies the run's data for caches: ``current:<clustering key>``
        or ``run:<key>:<created>``.
    source : {"current", "stored"}
    record : dict
        Run record with ``input.key``.
    table : DataFrame
        The run's own faces table (before corrections).
    labels : ndarray of int
        Cluster labels, noise -1, aligned with ``table``.
    embedding : ndarray or None
        The matrix the run clustered, aligned with ``table``; None when the
        workspace no longer has it.
    reduction_key : str or None
        Cache key of ``embedding``, which keys the 2-D views.
    workspace_root : str
    """

    token: str
    source: str
    record: dict
    table: pd.DataFrame
    labels: np.ndarray
    embedding: np.ndarray | None
    reduction_key: str | None
    workspace_root: str

    @property
    def run_key(self) -> str:
        """Key of the run (the key saving it gives, for the current results)."""
        return str(self.record["key"])

    @property
    def has_pages(self) -> bool:
        """True for runs on comic pages, False for runs on a folder of crops."""
        return (self.record.get("input") or {}).get("kind") == "pages" and "page" in self.table

    @property
    def workspace(self):
        """The :class:`~comicfaces.cache.Workspace` of the run."""
        return cached.get_workspace(self.workspace_root)

    def corrections(self):
        """Open the corrections of the run's input (saved to the workspace after each action)."""
        from comicfaces.corrections import Corrections

        return Corrections.for_run(self.workspace, self.record)

    def view(self, corrections=None) -> pd.DataFrame:
        """Return the faces table with the corrections applied (``Corrections.apply``)."""
        corrections = corrections if corrections is not None else self.corrections()
        return corrections.apply(self.table, self.labels)


# -- current results -------------------------------------------------------------------------


@st.cache_data(show_spinner="Hashing the input pages...", max_entries=8)
def _current_input_key(workspace_root: str, spec: dict, fingerprint: tuple) -> tuple[str, str | None]:
    """Return ``(input key, input path or None)`` of the dashboard's input."""
    from comicfaces.corrections import compute_input_key
    from comicfaces.dashboard import inputs
    from comicfaces.dashboard.review_records import page_input_key
    from comicfaces.dashboard.state import InputSpec

    input_spec = InputSpec.from_dict(spec)
    if not input_spec.has_pages:
        folder = str(Path(input_spec.paths[0]).expanduser().resolve())
        return compute_input_key("faces", folder), folder
    pages, _ = inputs.resolve_pages(workspace_root, input_spec)
    path = None
    if input_spec.kind == "demo":
        path = str(inputs.demo_folder(workspace_root, input_spec.demo_pages, input_spec.demo_seed).resolve())
    elif input_spec.kind == "folder":
        path = str(Path(input_spec.paths[0]).expanduser().resolve())
    return page_input_key(pages), path


def current_input_key(context: cached.Context) -> tuple[str, str | None]:
    """Return the input key and path of the session's input (cached per input fingerprint)."""
    return _current_input_key(context.workspace_root, context.spec.to_dict(), context.fingerprint)


def load_current(context: cached.Context) -> RunData:
    """Return the dashboard's current results as a run, computing the stages that are not cached.

    Raises the stage's error (a ``USER_ERRORS`` type) when a stage fails.
    """
    from comicfaces.cache import make_key
    from comicfaces.dashboard import runs

    face_set, _ = cached.face_set(context).value
    if len(face_set) == 0:
        raise ValueError("no face was found in the current input, so there is nothing to review")
    clusters = cached.clusters(context)
    reduction = cached.reduction(context)
    features = cached.features(context)

    n_items = len(context.fingerprint) - (1 if context.spec.labels else 0)
    source = runs.input_record(context.spec, n_items)
    config = context.config.to_dict()
    # The key runs.save_run gives these results, so saving them later keeps it.
    run_key = make_key("run", {"faceset": face_set.key, "input": source}, config)[:16]
    input_key, path = current_input_key(context)
    record = {
        "key": run_key,
        "name": context.spec.describe(),
        "source": "dashboard",
        "input": {**source, "key": input_key, **({"path": path} if path else {})},
        "config": config,
        "n_faces": int(len(face_set)),
        "stages": {"faceset": face_set.key, "features": features.key, "reduction": reduction.key, "clustering": clusters.key},
    }
    table = face_set.table.copy()
    table["cluster"] = clusters.value
    return RunData(
        token=f"current:{clusters.key}",
        source="current",
        record=record,
        table=table,
        labels=np.asarray(clusters.value, dtype=np.int64),
        embedding=reduction.value,
        reduction_key=reduction.key,
        workspace_root=context.workspace_root,
    )


def save_current(context: cached.Context, data: RunData) -> dict:
    """Store the current results as a run, with its input key and path; return the record."""
    from comicfaces.dashboard import runs

    metrics, detection, table = cached.evaluation(context).value
    face_set, _ = cached.face_set(context).value
    n_items = len(context.fingerprint) - (1 if context.spec.labels else 0)
    record = runs.save_run(
        data.workspace,
        context.spec,
        context.config.to_dict(),
        face_set.key,
        table,
        {stage: data.record["stages"][stage] for stage in ("features", "reduction", "clustering")},
        metrics,
        detection,
        face_set.errors,
        n_items,
    )
    if record["key"] != data.run_key:
        logger.warning("saved run %s under a key other than the reviewed %s", record["key"], data.run_key)
    # runs.save_run describes the input without its key and path; both are added here.
    completed = {**record, "input": {**record["input"], **data.record["input"]}}
    data.workspace.save_run(completed)
    return completed


# -- stored runs ------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the run...", max_entries=MAX_STORED_RUNS)
def _stored(workspace_root: str, run_key: str, stamp: float) -> tuple[dict, pd.DataFrame, np.ndarray | None]:
    """Return the record, faces table and embedding of a stored run; ``stamp`` is the record's mtime."""
    from comicfaces.cache import load_array
    from comicfaces.pipeline import load_run_faces

    workspace = cached.get_workspace(workspace_root)
    record = workspace.load_run(run_key)
    table = load_run_faces(workspace, run_key)
    embedding = None
    reduction_key = (record.get("stages") or {}).get("reduction")
    if reduction_key and workspace.has("reduction", reduction_key):
        embedding = load_array(workspace.entry_dir("reduction", reduction_key), "embedding")
        if len(embedding) != len(table):
            logger.warning("run %s: embedding has %d rows for %d faces; not used", run_key, len(embedding), len(table))
            embedding = None
    return record, table, embedding


def load_stored(workspace_root: str, run_key: str) -> RunData:
    """Return a stored run of the workspace.

    Raises
    ------
    KeyError
        If the run or its faces table is not in the workspace.
    comicfaces.corrections.CorrectionsError
        If the key of its input cannot be derived.
    """
    workspace = cached.get_workspace(workspace_root)
    path = workspace.run_path(run_key)
    if not path.is_file():
        raise KeyError(f"run {run_key!r} not found in {workspace.root}; pick a run from the list")
    record, table, embedding = _stored(workspace_root, run_key, path.stat().st_mtime)
    record = complete_input(record, workspace_root)
    return RunData(
        token=f"run:{run_key}:{record.get('created', 0)}",
        source="stored",
        record=record,
        table=table.copy(),
        labels=review_model.raw_labels(table),
        embedding=embedding,
        reduction_key=(record.get("stages") or {}).get("reduction") if embedding is not None else None,
        workspace_root=workspace_root,
    )


def stored_runs(workspace_root: str) -> list[dict]:
    """Return the run records of the workspace, newest first."""
    return cached.get_workspace(workspace_root).list_runs()


# -- derived data, cached per run and corrections -------------------------------------------


@st.cache_resource(show_spinner="Indexing the faces for similarity search...", max_entries=8)
def _neighbour_index(token: str, _embedding: np.ndarray) -> review_model.NeighbourIndex:
    return review_model.NeighbourIndex(_embedding)


def neighbour_index(data: RunData) -> review_model.NeighbourIndex | None:
    """Return the cosine nearest-neighbour index of the run's embedding (one per run and process)."""
    if data.embedding is None or len(data.embedding) == 0:
        return None
    return _neighbour_index(data.token, data.embedding)


@st.cache_data(show_spinner=False, max_entries=16)
def _flags(
    token: str,
    clusters: np.ndarray,
    noise: np.ndarray,
    rejected: np.ndarray,
    run_rows: np.ndarray,
    face_ids: tuple,
    method: str,
    percentile: float,
    duplicate_similarity: float,
    _embedding: np.ndarray | None,
) -> pd.DataFrame:
    view = pd.DataFrame({"cluster": clusters, "noise": noise, "rejected": rejected, "run_row": run_rows, "face_id": list(face_ids)})
    geometry = review_model.face_geometry(view, _embedding)
    if method == "lof":
        outlier = review_model.lof_outliers(view, _embedding)
    else:
        outlier = review_model.percentile_outliers(view, geometry.distance, percentile)
    index = _neighbour_index(token, _embedding) if _embedding is not None and len(_embedding) else None
    duplicate, partner = review_model.near_duplicates(view, index, duplicate_similarity)
    return pd.DataFrame(
        {
            "distance": geometry.distance,
            "nearest_cluster": geometry.nearest_cluster,
            "outlier": outlier,
            "duplicate": duplicate,
            "duplicate_of": partner,
        }
    )


def face_flags(data: RunData, view: pd.DataFrame, method: str, percentile: float, duplicate_similarity: float) -> pd.DataFrame:
    """Return distance, nearest cluster, outlier and near-duplicate flags for each view row.

    Cached on the run and the view's clusters, so it is computed again only
    after a correction or a change of the settings.
    """
    return _flags(
        data.token,
        view["cluster"].to_numpy(dtype=np.int64),
        view["noise"].to_numpy(dtype=bool),
        view["rejected"].to_numpy(dtype=bool),
        view["run_row"].to_numpy(dtype=np.int64),
        tuple(view["face_id"].astype(str)),
        method,
        float(percentile),
        float(duplicate_similarity),
        data.embedding,
    )


@st.cache_data(show_spinner="Computing the 2-D map...", max_entries=16)
def _projection(workspace_root: str, reduction_key: str, method: str, _embedding: np.ndarray) -> np.ndarray:
    from comicfaces.pipeline import compute_view

    return compute_view(cached.get_workspace(workspace_root), _embedding, reduction_key, method=method, seed=0)


def projection(data: RunData, method: str) -> np.ndarray | None:
    """Return the 2-D projection (``pca``, ``umap`` or ``tsne``) of the run's embedding, cached on disk."""
    if data.embedding is None or data.reduction_key is None:
        return None
    return _projection(data.workspace_root, data.reduction_key, method, data.embedding)


@st.cache_data(show_spinner=False, max_entries=32)
def page_panels(workspace_root: str, page_id: str, path: str, member: str | None, config: dict) -> np.ndarray:
    """Return the panel boxes of a page (original pixels), from the cache or computed once."""
    from comicfaces.config import PipelineConfig
    from comicfaces.imageio import PageSource
    from comicfaces.pipeline import PageProcessor

    processor = PageProcessor(cached.get_workspace(workspace_root), PipelineConfig.from_dict(config))
    result = processor.process(PageSource(page_id, Path(path), member), 0, stages=("panels",))
    if result.error:
        raise ValueError(f"panels of {page_id} could not be found: {result.error}")
    return result.panels


@st.cache_data(show_spinner=False, max_entries=8)
def run_pages(workspace_root: str, token: str, record: dict) -> dict[str, tuple[str, str | None]]:
    """Return page id to ``(file path, archive member or None)`` for a page run."""
    from comicfaces.dashboard.review_records import record_pages

    return {page.page_id: (str(page.path), page.member) for page in record_pages(record, workspace_root)}
