"""Streamlit caches around the pipeline, with progress bars and result origins.

Two caches sit in front of each stage:

* the workspace (on disk), which the pipeline keys by page content and stage
  parameters and which survives restarts and is shared with the CLI;
* ``st.cache_data`` (in memory, per server process), keyed by the arguments
  of the functions below, so a rerun of a page costs nothing.

Every cached function takes a *request*: a dict of plain values holding the
workspace folder, the input spec, a fingerprint of the input files and the
config sections that the stage depends on (see :func:`make_request`). So the
widget values reach the caches as arguments, and changing a clustering
parameter does not invalidate the features in memory.

Each stage reports where its result came from (:class:`StageOutput`):
``memory`` when ``st.cache_data`` returned it without running the function,
``disk`` when the function ran and the workspace held the result, and
``computed`` when the pipeline computed it. A computation draws an
``st.progress`` bar driven by the pipeline's ``progress(stage, done, total)``
callback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from comicfaces.cache import Workspace, make_key
from comicfaces.config import PipelineConfig
from comicfaces.dashboard import inputs
from comicfaces.dashboard.state import InputSpec

logger = logging.getLogger(__name__)

ORIGIN_MEMORY = "memory"
ORIGIN_DISK = "disk"
ORIGIN_COMPUTED = "computed"

PAGE_STAGES = ("panels", "text", "faces")

#: Config sections each stage depends on, in pipeline order.
STAGE_SECTIONS = {
    "panels": ("panels",),
    "text": ("panels", "text"),
    "faces": ("panels", "text", "faces"),
    "features": ("panels", "text", "faces", "features"),
    "reduction": ("panels", "text", "faces", "features", "reduction"),
    "clustering": ("panels", "text", "faces", "features", "reduction", "clustering"),
}

#: Entries kept per cached function, enough for a few parameter variants per stage.
MAX_ENTRIES = 24

#: Longer side, in pixels, of page images shown in the dashboard.
DISPLAY_SIDE = 1400


# -- context and requests ---------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Inputs of every page's computation: workspace, input spec, its fingerprint and the config."""

    workspace_root: str
    spec: InputSpec
    fingerprint: tuple
    config: PipelineConfig

    def request(self, stage: str) -> dict:
        """Return the cache request of ``stage``; see :func:`make_request`."""
        return make_request(self, stage)


def make_request(context: Context, stage: str) -> dict:
    """Return the plain-data arguments that identify the result of ``stage``.

    A folder of face crops has no page stages, so their sections are left out
    and changing them reuses the cached features.
    """
    sections = STAGE_SECTIONS[stage]
    if not context.spec.has_pages:
        sections = tuple(s for s in sections if s not in PAGE_STAGES)
    full = context.config.to_dict()
    return {
        "workspace": context.workspace_root,
        "input": context.spec.to_dict(),
        "fingerprint": context.fingerprint,
        "config": {section: full[section] for section in sections},
    }


def _narrow(request: dict, stage: str) -> dict:
    """Return the request of an earlier ``stage`` taken from a later stage's request."""
    sections = STAGE_SECTIONS[stage]
    return {**request, "config": {k: v for k, v in request["config"].items() if k in sections}}


def _config(request: dict) -> PipelineConfig:
    return PipelineConfig.from_dict(request["config"])


def _spec(request: dict) -> InputSpec:
    return InputSpec.from_dict(request["input"])


# -- progress and origins ---------------------------------------------------------------


@contextlib.contextmanager
def _not_recorded() -> Iterator[bool]:
    """Let a cached function update a progress bar without the update being cached.

    ``st.cache_data`` records every element a cached function draws and
    replays it on a cache hit. Replaying an update of a progress bar created
    outside the function raises ``CacheReplayClosureError``. Streamlit 1.67
    records only while the context variable ``in_cached_function`` is True,
    so it is cleared here. Where that variable does not exist, this yields
    False and the caller draws nothing.
    """
    try:
        from streamlit.runtime.caching.cached_message_replay import in_cached_function
    except ImportError:
        yield False
        return
    token = in_cached_function.set(False)
    try:
        yield True
    finally:
        in_cached_function.reset(token)


class StageProgress:
    """Progress callback of the pipeline that draws one ``st.progress`` bar.

    It also records whether the cached function it was passed to ran
    (``ran``), which distinguishes a memory-cache hit from a computation.
    Cached functions take it as ``_progress``, because Streamlit leaves
    arguments with a leading underscore out of the cache key.
    """

    def __init__(self, label: str, placeholder: Any | None = None):
        self.label = label
        self.ran = False
        self._placeholder = placeholder if placeholder is not None else st.empty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        fraction = min(1.0, max(0.0, done / total)) if total else 1.0
        self._draw(fraction, f"{self.label}: {stage} {done}/{total}")

    def start(self) -> None:
        """Mark the cached function as run, and show an empty bar."""
        self._draw(0.0, f"{self.label}: starting")

    def _draw(self, fraction: float, text: str) -> None:
        self.ran = True
        with _not_recorded() as allowed:
            if allowed:
                self._placeholder.progress(fraction, text=text)

    def child(self, label: str | None = None) -> StageProgress:
        """Return a progress for a nested cached call, drawing on the same bar."""
        return StageProgress(label or self.label, self._placeholder)

    def close(self) -> None:
        """Remove the bar."""
        self._placeholder.empty()


@dataclass
class StageOutput:
    """A stage result and where it came from.

    Attributes
    ----------
    value : object
        The result.
    origin : {"memory", "disk", "computed"}
        See the module docstring.
    seconds : float
        Time the cached function took when it last ran.
    key : str or None
        Workspace cache key of the result, where it has one.
    """

    value: Any
    origin: str
    seconds: float
    key: str | None = None


def _call(function, progress: StageProgress, *args) -> StageOutput:
    """Call a cached stage function and fill in the memory-cache origin."""
    probe = progress.child()
    output: StageOutput = function(*args, _progress=probe)
    if not probe.ran:
        output = dataclasses.replace(output, origin=ORIGIN_MEMORY)
    return output


def run_stage(function, label: str, *args) -> StageOutput:
    """Call a cached stage function with a progress bar shown while it computes."""
    progress = StageProgress(label)
    try:
        return _call(function, progress, *args)
    finally:
        progress.close()


# -- resources --------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def get_workspace(root: str) -> Workspace:
    """Return the workspace at ``root``, created when missing (one object per folder)."""
    return Workspace(root)


@st.cache_resource(show_spinner="Loading the text detector...")
def text_engine():
    """Load the rapidocr text detector once per server process."""
    from comicfaces.text import get_text_engine

    return get_text_engine()


@st.cache_resource(show_spinner=False)
def detector_status(name: str, params_json: str):
    """Return the :class:`~comicfaces.detect.Availability` of detector ``name``."""
    import json

    from comicfaces.detect import detector_availability

    return detector_availability(name, **json.loads(params_json))


# -- page stages ------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _page_results(request: dict, stages: tuple[str, ...], _progress: StageProgress) -> StageOutput:
    from comicfaces.pipeline import process_pages

    _progress.start()
    start = time.perf_counter()
    pages, _ = inputs.resolve_pages(request["workspace"], _spec(request))
    results = process_pages(get_workspace(request["workspace"]), pages, _config(request), _progress, stages=stages)
    done = [r for r in results if r.error is None]
    from_disk = bool(done) and all(all(r.cached.values()) for r in done)
    return StageOutput(results, ORIGIN_DISK if from_disk else ORIGIN_COMPUTED, time.perf_counter() - start)


def page_results(context: Context, stage: str) -> StageOutput:
    """Run the page stages up to ``stage`` (``panels``, ``text`` or ``faces``) on every page.

    ``value`` is a list of :class:`~comicfaces.pipeline.PageResult`; pages
    that failed carry their ``error``.
    """
    stages = PAGE_STAGES[: PAGE_STAGES.index(stage) + 1]
    return run_stage(_page_results, f"{stage} on every page", context.request(stage), stages)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _face_set(request: dict, _progress: StageProgress) -> StageOutput:
    from comicfaces.pipeline import attach_truth, face_set_from_folder, face_set_from_pages

    _progress.start()
    start = time.perf_counter()
    spec = _spec(request)
    if not spec.has_pages:
        faces = face_set_from_folder(spec.paths[0], spec.labels)
        return StageOutput((faces, None), ORIGIN_COMPUTED, time.perf_counter() - start, faces.key)

    pages_output = _call(_page_results, _progress, _narrow(request, "faces"), PAGE_STAGES)
    faces = face_set_from_pages(pages_output.value)
    pages, truth = inputs.resolve_pages(request["workspace"], spec)
    detection = None
    if truth is not None:
        detection = attach_truth(faces, pages, pages_output.value, truth)
    return StageOutput((faces, detection), pages_output.origin, time.perf_counter() - start, faces.key)


def face_set(context: Context) -> StageOutput:
    """Return the faces to cluster: ``value`` is ``(FaceSet, detection metrics or None)``.

    Faces come from the page stages, or from the folder of crops. On the demo,
    detections are matched to the ground truth, which fills the ``identity``
    column and gives detection metrics.
    """
    return run_stage(_face_set, "faces", context.request("faces"))


# -- face-set stages --------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _features(request: dict, _progress: StageProgress) -> StageOutput:
    from comicfaces.pipeline import compute_features

    _progress.start()
    start = time.perf_counter()
    faces, _ = _call(_face_set, _progress, _narrow(request, "faces")).value
    features, key, cached = compute_features(get_workspace(request["workspace"]), faces, _config(request), _progress)
    return StageOutput(features, ORIGIN_DISK if cached else ORIGIN_COMPUTED, time.perf_counter() - start, key)


def features(context: Context) -> StageOutput:
    """Return the feature matrix ``(n_faces, n_features)`` of the current faces."""
    return run_stage(_features, "features", context.request("features"))


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _reduction(request: dict, _progress: StageProgress) -> StageOutput:
    from comicfaces.pipeline import compute_reduction

    _progress.start()
    start = time.perf_counter()
    upstream = _call(_features, _progress, _narrow(request, "features"))
    embedding, key, cached = compute_reduction(
        get_workspace(request["workspace"]), upstream.value, upstream.key, _config(request)
    )
    _progress("reduction", 1, 1)
    return StageOutput(embedding, ORIGIN_DISK if cached else ORIGIN_COMPUTED, time.perf_counter() - start, key)


def reduction(context: Context) -> StageOutput:
    """Return the reduced features that clustering runs on."""
    return run_stage(_reduction, "reduction", context.request("reduction"))


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _clusters(request: dict, _progress: StageProgress) -> StageOutput:
    from comicfaces.pipeline import compute_clusters, panel_groups

    _progress.start()
    start = time.perf_counter()
    upstream = _call(_reduction, _progress, _narrow(request, "reduction"))
    faces, _ = _call(_face_set, _progress, _narrow(request, "faces")).value
    # Panel ids feed the cannot-link constraint, exactly as in the command line.
    labels, key, cached = compute_clusters(
        get_workspace(request["workspace"]), upstream.value, upstream.key, _config(request), groups=panel_groups(faces.table)
    )
    _progress("clustering", 1, 1)
    return StageOutput(labels, ORIGIN_DISK if cached else ORIGIN_COMPUTED, time.perf_counter() - start, key)


def clusters(context: Context) -> StageOutput:
    """Return the cluster label of every face (-1 is noise)."""
    return run_stage(_clusters, "clustering", context.request("clustering"))


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _view(request: dict, method: str, seed: int, _progress: StageProgress) -> StageOutput:
    from comicfaces.pipeline import compute_view

    _progress.start()
    start = time.perf_counter()
    upstream = _call(_reduction, _progress, _narrow(request, "reduction"))
    workspace = get_workspace(request["workspace"])
    # The same key compute_view uses, read first only to report the origin.
    was_cached = workspace.has("view", make_key("view", upstream.key, {"method": method, "seed": seed}))
    _progress(f"2-D {method}", 0, 1)
    view = compute_view(workspace, upstream.value, upstream.key, method=method, seed=seed)
    _progress(f"2-D {method}", 1, 1)
    return StageOutput(view, ORIGIN_DISK if was_cached else ORIGIN_COMPUTED, time.perf_counter() - start)


def view(context: Context, method: str, seed: int = 0) -> StageOutput:
    """Return a 2-D projection (``pca``, ``umap`` or ``tsne``) of the reduced features."""
    return run_stage(_view, f"2-D {method} view", context.request("reduction"), method, seed)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _variance(request: dict, max_components: int, _progress: StageProgress) -> StageOutput:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    _progress.start()
    start = time.perf_counter()
    matrix = _call(_features, _progress, _narrow(request, "features")).value.astype(np.float64)
    params = _config(request).reduction.params
    if params.get("standardize"):
        matrix = StandardScaler().fit_transform(matrix)
    n_components = max(1, min(max_components, matrix.shape[0] - 1, matrix.shape[1]))
    ratio = PCA(n_components=n_components, random_state=0).fit(matrix).explained_variance_ratio_
    return StageOutput(ratio, ORIGIN_COMPUTED, time.perf_counter() - start)


def explained_variance(context: Context, max_components: int = 100) -> StageOutput:
    """Return the explained-variance ratio of the first principal components of the features.

    Computed here, not by the pipeline, because the chart needs more
    components than the reduction keeps. Only ``st.cache_data`` caches it.
    """
    return run_stage(_variance, "explained variance", context.request("reduction"), max_components)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _evaluation(request: dict, _progress: StageProgress) -> StageOutput:
    from comicfaces.pipeline import evaluate_face_set

    _progress.start()
    start = time.perf_counter()
    faces, detection = _call(_face_set, _progress, _narrow(request, "faces")).value
    embedding = _call(_reduction, _progress, _narrow(request, "reduction")).value
    labels = _call(_clusters, _progress, request).value
    table = faces.table.copy()
    table["cluster"] = labels

    # The same scores as the command line's run records: faces without an
    # identity count only for the internal scores.
    metrics = evaluate_face_set(table, labels, embedding)
    return StageOutput((metrics, detection, table), ORIGIN_COMPUTED, time.perf_counter() - start)


def evaluation(context: Context) -> StageOutput:
    """Return ``(clustering metrics, detection metrics or None, faces table with clusters)``."""
    return run_stage(_evaluation, "evaluation", context.request("clustering"))


# -- images -----------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def page_image(page_id: str, path: str, member: str | None, max_side: int = DISPLAY_SIDE) -> tuple[np.ndarray, float]:
    """Return a page scaled for display and the factor from page pixels to display pixels."""
    from comicfaces.imageio import PageSource, load_page

    return load_page(PageSource(page_id, Path(path), member), max_side=max_side)


@st.cache_data(show_spinner=False, max_entries=64)
def image_file(path: str, max_side: int = DISPLAY_SIDE) -> np.ndarray:
    """Return an image file (a cleaned page, a crop) scaled for display."""
    from comicfaces.imageio import load_image

    return load_image(path, max_side=max_side)


@st.cache_data(show_spinner=False, max_entries=128)
def crop_montage(paths: Sequence[str], thumb: int = 80, columns: int = 10) -> np.ndarray:
    """Return the crops at ``paths`` tiled into one image; see :func:`~comicfaces.dashboard.draw.montage`."""
    from comicfaces.dashboard.draw import montage

    return montage(list(paths), thumb=thumb, columns=columns)


@st.cache_data(show_spinner=False, max_entries=8)
def truth_boxes(truth_path: str, fingerprint: tuple) -> dict[str, np.ndarray]:
    """Return the ground-truth face boxes of each page, by page name relative to the pages folder."""
    from comicfaces.annotations import load_face_annotations

    truth = load_face_annotations(truth_path)
    pages = truth.values() if isinstance(truth, dict) else truth
    return {Path(page.file_name).as_posix(): np.asarray(page.boxes, dtype=np.float64) for page in pages}
