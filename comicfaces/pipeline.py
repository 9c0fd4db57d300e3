"""The pipeline: each stage cached in a workspace, driven by the CLI and the dashboard.

Page stages (panels, text, faces) are cached per page, keyed by the page's
SHA-256 and the stage parameters, so adding pages or changing a face parameter
recomputes only what changed. Set stages (features, reduction, clustering) are
keyed by the key of the stage before them. A page that fails is recorded with
its error and skipped; the run goes on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from comicfaces import __version__
from comicfaces.cache import Workspace, atomic_write_json, load_array, make_key, save_array
from comicfaces.config import PipelineConfig
from comicfaces.facesets import FaceSet, face_set_from_folder, face_set_from_pages
from comicfaces.imageio import (
    IMAGE_EXTENSIONS,
    ImageLoadError,
    PageSource,
    decode_image,
    list_pages,
    load_image,
    load_page,
    page_digest,
    save_image,
)

logger = logging.getLogger(__name__)

#: ``progress(stage, done, total)``; called after each unit of work.
ProgressCallback = Callable[[str, int, int], None]

FACE_COLUMNS = [
    "face_id",
    "page",
    "page_index",
    "panel",
    "x0",
    "y0",
    "x1",
    "y1",
    "detector",
    "score",
    "crop",
]


def _noop(stage: str, done: int, total: int) -> None:
    pass


# -- page stages -------------------------------------------------------------------


@dataclass
class PageResult:
    """Everything the page stages found on one page.

    Boxes are in pixels of the original page file. ``error`` is set, and the
    other fields are empty, when the page could not be processed.
    """

    page_id: str
    page_index: int
    digest: str
    width: int = 0
    height: int = 0
    panels: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    text_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    balloon_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    faces: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FACE_COLUMNS))
    cleaned_path: Path | None = None
    error: str | None = None
    cached: dict = field(default_factory=dict)


def _page_key(digest: str, max_side: int) -> dict:
    return {"page": digest, "max_side": max_side}


def _load_for_stage(page: PageSource, max_side: int) -> tuple[np.ndarray, float]:
    return load_page(page, max_side=max_side)


class PageProcessor:
    """Runs the panels, text and faces stages on pages, with the cache.

    Parameters
    ----------
    workspace : Workspace
        Where results are cached.
    config : PipelineConfig
        Parameters of every stage; only the page sections are used here.
    max_side : int
        Pages are downscaled to this longer side before processing; boxes are
        mapped back to original pixels.
    """

    def __init__(self, workspace: Workspace, config: PipelineConfig, max_side: int = 3000):
        self.workspace = workspace
        self.config = config
        self.max_side = max_side

    # Each stage returns (entry folder, key, cached?).

    def panels_entry(self, page: PageSource, digest: str, image_cache: dict) -> tuple[Path, str, bool]:
        from comicfaces.panels import extract_panels

        params = dataclasses.asdict(self.config.panels)
        key = make_key("panels", _page_key(digest, self.max_side), params)
        if self.workspace.has("panels", key):
            return self.workspace.entry_dir("panels", key), key, True
        image, scale = self._image(page, image_cache)
        panels = np.asarray(extract_panels(image, self.config.panels), dtype=np.float64).reshape(-1, 4)
        with self.workspace.writing("panels", key, {"page": page.page_id, "scale": scale}) as folder:
            save_array(folder, "panels", panels / scale)
        return self.workspace.entry_dir("panels", key), key, False

    def text_entry(self, page: PageSource, digest: str, image_cache: dict) -> tuple[Path, str, bool]:
        from comicfaces.text import blank_text, detect_text

        params = dataclasses.asdict(self.config.text)
        key = make_key("text", _page_key(digest, self.max_side), params)
        if self.workspace.has("text", key):
            return self.workspace.entry_dir("text", key), key, True
        image, scale = self._image(page, image_cache)
        if self.config.text.enabled:
            result = detect_text(image, self.config.text)
            cleaned = blank_text(image, result, self.config.text)
            text_boxes = np.asarray(result.text_boxes, dtype=np.float64).reshape(-1, 4)
            balloon_boxes = np.asarray(result.balloon_boxes, dtype=np.float64).reshape(-1, 4)
        else:
            cleaned = image
            text_boxes = np.zeros((0, 4))
            balloon_boxes = np.zeros((0, 4))
        with self.workspace.writing("text", key, {"page": page.page_id, "scale": scale}) as folder:
            save_array(folder, "text_boxes", text_boxes / scale)
            save_array(folder, "balloon_boxes", balloon_boxes / scale)
            save_image(folder / "cleaned.png", cleaned)
        return self.workspace.entry_dir("text", key), key, False

    def faces_entry(self, page: PageSource, digest: str, text_key: str, text_dir: Path, image_cache: dict):
        from comicfaces.boxes import expand_boxes
        from comicfaces.detect import detect_faces

        params = dataclasses.asdict(self.config.faces)
        # Which detectors can run depends on the model files present, so the
        # key names them: adding a model file later recomputes the faces.
        usable = self._usable_detectors()
        key = make_key("faces", {"text": text_key, "max_side": self.max_side, "usable": usable}, params)
        if self.workspace.has("faces", key):
            return self.workspace.entry_dir("faces", key), key, True

        image, scale = self._image(page, image_cache)
        cleaned = load_image(text_dir / "cleaned.png", max_side=None)
        text_boxes = load_array(text_dir, "text_boxes") * scale
        detections = detect_faces(cleaned, self.config.faces, text_boxes=text_boxes)
        boxes = np.asarray(detections.boxes, dtype=np.float64).reshape(-1, 4)
        height, width = image.shape[:2]
        crop_boxes = expand_boxes(boxes, self.config.faces.margin, width, height).astype(int)

        with self.workspace.writing("faces", key, {"page": page.page_id, "scale": scale}) as folder:
            save_array(folder, "boxes", boxes / scale)
            save_array(folder, "scores", np.asarray(detections.scores, dtype=np.float64))
            (folder / "detectors.json").write_text(json.dumps([str(d) for d in detections.detectors]))
            for index, (x0, y0, x1, y1) in enumerate(crop_boxes):
                save_image(folder / f"crop_{index:04d}.png", image[y0:y1, x0:x1])
        return self.workspace.entry_dir("faces", key), key, False

    def _usable_detectors(self) -> list:
        # A detector reading user-chosen model files is named with their
        # SHA-256, so a model retrained under the same path recomputes the faces.
        if not hasattr(self, "_usable"):
            from comicfaces.detect import make_detector
            from comicfaces.detect.models import file_sha256

            faces = self.config.faces
            self._usable = []
            for name in faces.detectors:
                detector = make_detector(name, **faces.params_for(name))
                if not detector.check():
                    continue
                files = detector.model_files()
                self._usable.append({"name": name, "files": [file_sha256(f) for f in files]} if files else name)
        return self._usable

    def _image(self, page: PageSource, image_cache: dict) -> tuple[np.ndarray, float]:
        if "image" not in image_cache:
            image_cache["image"] = _load_for_stage(page, self.max_side)
        return image_cache["image"]

    def process(self, page: PageSource, page_index: int, stages: Sequence[str] = ("panels", "text", "faces")) -> PageResult:
        """Run the page stages on one page; errors are caught and recorded."""
        digest = page_digest(page)
        result = PageResult(page.page_id, page_index, digest)
        image_cache: dict = {}
        try:
            width, height = _page_size(page)
            result.width, result.height = width, height

            if "panels" in stages:
                folder, _, result.cached["panels"] = self.panels_entry(page, digest, image_cache)
                result.panels = load_array(folder, "panels")

            if "text" in stages or "faces" in stages:
                text_dir, text_key, result.cached["text"] = self.text_entry(page, digest, image_cache)
                result.text_boxes = load_array(text_dir, "text_boxes")
                result.balloon_boxes = load_array(text_dir, "balloon_boxes")
                result.cleaned_path = text_dir / "cleaned.png"

            if "faces" in stages:
                faces_dir, _, result.cached["faces"] = self.faces_entry(page, digest, text_key, text_dir, image_cache)
                result.faces = _faces_table(faces_dir, result)
        except (ImageLoadError, OSError, ValueError) as error:
            result.error = str(error)
            logger.error("page %s skipped: %s", page.page_id, error)
        return result


def _page_size(page: PageSource) -> tuple[int, int]:
    """Return the original (width, height) of a page without decoding all pixels."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(page.read_bytes())) as image:
            return image.size
    except Exception as error:  # Pillow raises many types for bad files
        # Decoding gives the precise, user-facing message.
        decode_image(page.read_bytes(), page.page_id)
        raise ImageLoadError(f"{page.page_id}: not a readable image ({error})") from error


def _faces_table(faces_dir: Path, page: PageResult) -> pd.DataFrame:
    boxes = load_array(faces_dir, "boxes")
    scores = load_array(faces_dir, "scores")
    detectors = json.loads((faces_dir / "detectors.json").read_text())
    rows = []
    for index, box in enumerate(boxes):
        rows.append(
            {
                "face_id": f"p{page.page_index:04d}_f{index:03d}",
                "page": page.page_id,
                "page_index": page.page_index,
                "panel": _panel_of(box, page.panels),
                "x0": int(round(box[0])),
                "y0": int(round(box[1])),
                "x1": int(round(box[2])),
                "y1": int(round(box[3])),
                "detector": detectors[index],
                "score": float(scores[index]),
                "crop": str(faces_dir / f"crop_{index:04d}.png"),
            }
        )
    return pd.DataFrame(rows, columns=FACE_COLUMNS)


def _panel_of(box: np.ndarray, panels: np.ndarray) -> int:
    """Return the index of the panel that contains most of ``box``, or -1."""
    from comicfaces.boxes import coverage

    if len(panels) == 0:
        return -1
    shares = coverage(box[None, :], panels)[0]
    best = int(np.argmax(shares))
    return best if shares[best] > 0.3 else -1


# -- set stages ----------------------------------------------------------------------


def compute_features(workspace: Workspace, faces: FaceSet, config: PipelineConfig, progress: ProgressCallback = _noop):
    """Return ``(features, key, cached)`` for a face set; cached on disk."""
    from comicfaces.features import make_features

    key = make_key("features", faces.key, dataclasses.asdict(config.features))
    if workspace.has("features", key):
        progress("features", 1, 1)
        return load_array(workspace.entry_dir("features", key), "features"), key, True
    if len(faces) == 0:
        raise ValueError("no faces to describe: the face set is empty")

    crops = []
    for index, path in enumerate(faces.table["crop"]):
        crops.append(load_image(path, max_side=1024))
        progress("crops", index + 1, len(faces))
    extractor = make_features(config.features.name, **config.features.params)
    start = time.perf_counter()
    progress("features", 0, 1)
    features = np.asarray(extractor.fit_transform(crops), dtype=np.float32)
    progress("features", 1, 1)

    meta = {"faceset": faces.key, "seconds": time.perf_counter() - start}
    if hasattr(extractor, "loss_history_"):
        meta["loss_history"] = [float(value) for value in extractor.loss_history_]
    missing = missing_feature_mask(extractor, len(features))
    with workspace.writing("features", key, meta) as folder:
        save_array(folder, "features", features)
        if missing.any():
            save_array(folder, "missing", missing)
        # A network trained on this face set (SimCLR) is kept with its features,
        # so the embedding can be reproduced and new faces embedded later.
        if hasattr(extractor, "save") and callable(extractor.save):
            extractor.save(folder / "model.pt")
    return features, key, False


def missing_feature_mask(extractor, n_faces: int) -> np.ndarray:
    """Return which faces an extractor could not describe (no keypoints, say).

    Concatenated features mark faces missing from any block in ``missing_mask_``;
    local descriptors list faces without keypoints in ``empty_indices_``.
    """
    mask = np.zeros(n_faces, dtype=bool)
    if getattr(extractor, "missing_mask_", None) is not None:
        mask |= np.asarray(extractor.missing_mask_, dtype=bool)
    elif getattr(extractor, "empty_indices_", None) is not None:
        mask[np.asarray(extractor.empty_indices_, dtype=np.int64)] = True
    return mask


def load_missing_mask(workspace: Workspace, features_key: str, n_faces: int) -> np.ndarray:
    """Return the stored mask of faces without features (all False when none was stored)."""
    folder = workspace.entry_dir("features", features_key)
    if (folder / "missing.npy").is_file():
        return load_array(folder, "missing")
    return np.zeros(n_faces, dtype=bool)


def compute_reduction(workspace: Workspace, features: np.ndarray, features_key: str, config: PipelineConfig):
    """Return ``(embedding, key, cached)``: the reduced features, cached on disk."""
    from comicfaces.reduction import make_reducer

    key = make_key("reduction", features_key, dataclasses.asdict(config.reduction))
    if workspace.has("reduction", key):
        return load_array(workspace.entry_dir("reduction", key), "embedding"), key, True
    if len(features) < 3:
        # Two faces or fewer give no meaningful projection; cluster the raw features.
        logger.warning("only %d face(s): reduction skipped", len(features))
        embedding = np.asarray(features, dtype=np.float32)
    else:
        reducer = make_reducer(config.reduction.name, **config.reduction.params)
        embedding = np.asarray(reducer.fit_transform(features), dtype=np.float32)
    with workspace.writing("reduction", key, {"features": features_key}) as folder:
        save_array(folder, "embedding", embedding)
    return embedding, key, False


def compute_clusters(
    workspace: Workspace,
    embedding: np.ndarray,
    reduction_key: str,
    config: PipelineConfig,
    groups: np.ndarray | None = None,
):
    """Return ``(labels, key, cached)``: cluster labels (noise is -1), cached on disk.

    ``groups`` gives each face's panel. Methods with a cannot-link constraint
    use it to keep two faces of one panel apart, and other methods ignore it.
    """
    import inspect

    from comicfaces.clustering import make_clusterer

    clusterer = make_clusterer(config.clustering.name, **config.clustering.params)
    takes_groups = groups is not None and "groups" in inspect.signature(clusterer.fit).parameters
    inputs = {"reduction": reduction_key}
    if takes_groups:
        inputs["groups"] = hashlib.sha256(np.asarray(groups, dtype=np.int64).tobytes()).hexdigest()
    key = make_key("clustering", inputs, dataclasses.asdict(config.clustering))
    if workspace.has("clustering", key):
        return load_array(workspace.entry_dir("clustering", key), "labels"), key, True
    if takes_groups:
        labels = clusterer.fit_predict(embedding, groups=groups)
    else:
        labels = clusterer.fit_predict(embedding)
    labels = np.asarray(labels, dtype=np.int64)
    with workspace.writing("clustering", key, {"reduction": reduction_key}) as folder:
        save_array(folder, "labels", labels)
    return labels, key, False


def compute_view(workspace: Workspace, embedding: np.ndarray, reduction_key: str, method: str = "pca", seed: int = 0):
    """Return a 2-D projection of the embedding for scatter plots, cached on disk."""
    key = make_key("view", reduction_key, {"method": method, "seed": seed})
    if workspace.has("view", key):
        return load_array(workspace.entry_dir("view", key), "view")
    n = len(embedding)
    if n < 3:
        view = np.zeros((n, 2), dtype=np.float32)
    elif method == "pca":
        from sklearn.decomposition import PCA

        view = PCA(n_components=2, random_state=seed).fit_transform(embedding)
    elif method == "umap":
        import umap

        view = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed).fit_transform(embedding)
    elif method == "tsne":
        from comicfaces.reduction import tsne_view

        view = tsne_view(embedding, random_state=seed)
    else:
        raise ValueError(f"unknown 2-D view method {method!r}; use 'pca', 'umap' or 'tsne'")
    with workspace.writing("view", key, {"reduction": reduction_key}) as folder:
        save_array(folder, "view", np.asarray(view, dtype=np.float32))
    return np.asarray(view, dtype=np.float32)


@dataclass
class ClusteredFaces:
    """Output of the set stages on one face set."""

    features: np.ndarray
    embedding: np.ndarray
    labels: np.ndarray
    metrics: dict
    stage_keys: dict
    cached: dict
    timings: dict

    @property
    def n_clusters(self) -> int:
        return int(len(set(self.labels.tolist()) - {-1}))

    @property
    def n_noise(self) -> int:
        return int(np.sum(self.labels == -1))


def panel_groups(table: pd.DataFrame) -> np.ndarray | None:
    """Return one group id per face for faces sharing a panel, or None without panel columns.

    Faces outside any detected panel (panel -1) get a group of their own, so
    they are never constrained.
    """
    if "page_index" not in table or "panel" not in table or len(table) == 0:
        return None
    page = table["page_index"].to_numpy(dtype=np.int64)
    panel = table["panel"].to_numpy(dtype=np.int64)
    groups = page * 100_000 + panel
    outside = panel < 0
    groups[outside] = -1 - np.arange(outside.sum())
    return groups


def cluster_face_set(
    workspace: Workspace, faces: FaceSet, config: PipelineConfig, progress: ProgressCallback = _noop
) -> ClusteredFaces:
    """Run features, reduction, clustering and evaluation on a face set, with the cache.

    Clusters are labelled in the face table (``cluster``, with noise faces as
    clusters of their own, and ``noise``).
    """
    timings = {}
    tick = time.perf_counter()
    features, features_key, features_cached = compute_features(workspace, faces, config, progress)
    timings["features"] = time.perf_counter() - tick

    # As in the original study, faces that a feature block could not describe
    # are left out of reduction and clustering; they are reported as noise.
    valid = ~load_missing_mask(workspace, features_key, len(features))
    if not valid.any():
        raise ValueError(f"no face has {config.features.name} features (for example no keypoints); choose other features")
    if not valid.all():
        logger.warning("%d face(s) without %s features are left out of clustering", int((~valid).sum()), config.features.name)

    tick = time.perf_counter()
    embedding, reduction_key, reduction_cached = compute_reduction(workspace, features[valid], features_key, config)
    timings["reduction"] = time.perf_counter() - tick

    tick = time.perf_counter()
    groups = panel_groups(faces.table)
    labels, cluster_key, clustering_cached = compute_clusters(
        workspace, embedding, reduction_key, config, groups=None if groups is None else groups[valid]
    )
    timings["clustering"] = time.perf_counter() - tick
    progress("clustering", 1, 1)

    if not valid.all():
        full_labels = np.full(len(features), -1, dtype=np.int64)
        full_labels[valid] = labels
        full_embedding = np.zeros((len(features), embedding.shape[1]), dtype=embedding.dtype)
        full_embedding[valid] = embedding
        labels, embedding = full_labels, full_embedding

    faces.table["cluster"] = noise_as_singletons(labels)
    faces.table["noise"] = labels == -1
    return ClusteredFaces(
        features=features,
        embedding=embedding,
        labels=labels,
        metrics=evaluate_face_set(faces.table, labels, embedding),
        stage_keys={"features": features_key, "reduction": reduction_key, "clustering": cluster_key},
        cached={"features": features_cached, "reduction": reduction_cached, "clustering": clustering_cached},
        timings=timings,
    )


# -- whole runs ----------------------------------------------------------------------


@dataclass
class RunResult:
    """Output of :func:`run_pipeline`: the record stored in the workspace plus arrays."""

    record: dict
    faces: pd.DataFrame
    pages: list[PageResult]
    features: np.ndarray | None
    embedding: np.ndarray | None
    labels: np.ndarray | None

    @property
    def key(self) -> str:
        return self.record["key"]


def process_pages(
    workspace: Workspace,
    pages: Sequence[PageSource],
    config: PipelineConfig,
    progress: ProgressCallback = _noop,
    stages: Sequence[str] = ("panels", "text", "faces"),
) -> list[PageResult]:
    """Run the page stages over pages; one bad page is recorded and skipped."""
    processor = PageProcessor(workspace, config)
    results = []
    for index, page in enumerate(pages):
        results.append(processor.process(page, index, stages))
        progress("pages", index + 1, len(pages))
    return results


def run_pipeline(
    workspace: Workspace,
    source: str | Path | None = None,
    config: PipelineConfig | None = None,
    *,
    faces_folder: str | Path | None = None,
    labels_csv: str | Path | None = None,
    truth: str | Path | None = None,
    name: str | None = None,
    progress: ProgressCallback = _noop,
) -> RunResult:
    """Run every stage on pages (``source``) or on a folder of crops (``faces_folder``).

    Parameters
    ----------
    workspace : Workspace
        Cache and run store.
    source : path, optional
        Folder of pages, an image or a CBZ archive.
    config : PipelineConfig, optional
        Defaults when omitted.
    faces_folder : path, optional
        Folder of ready face crops; skips the page stages.
    labels_csv : path, optional
        ``image_name,identity`` labels of the crops in ``faces_folder``.
    truth : path, optional
        COCO face annotations of the pages; gives detection metrics, and each
        detection matched to an annotated face takes its identity.
    name : str, optional
        Display name of the run.
    progress : callable
        ``progress(stage, done, total)``.

    Returns
    -------
    RunResult
        Its ``record`` is also stored in the workspace under ``record["key"]``.
    """
    config = (config or PipelineConfig()).validate()
    if (source is None) == (faces_folder is None):
        raise ValueError("give exactly one input: pages (source) or a folder of face crops (faces_folder)")
    started = time.time()
    timings: dict[str, float] = {}

    # Faces: from pages through the page stages, or straight from crops.
    page_results: list[PageResult] = []
    detection_metrics = None
    listing_errors: list[dict] = []
    if source is not None:
        pages = list_pages(source, errors=listing_errors)
        if not pages and listing_errors:
            raise ImageLoadError(listing_errors[0]["error"])
        if not pages:
            raise ValueError(f"no pages found in {source}; supported types are {', '.join(IMAGE_EXTENSIONS)} and .cbz")
        tick = time.perf_counter()
        page_results = process_pages(workspace, pages, config, progress)
        timings["pages"] = time.perf_counter() - tick
        faces = face_set_from_pages(page_results)
        if truth is not None:
            detection_metrics = attach_truth(faces, pages, page_results, truth)
        input_record = {"kind": "pages", "path": str(Path(source).resolve()), "n_pages": len(pages)}
    else:
        faces = face_set_from_folder(faces_folder, labels_csv)
        input_record = {"kind": "faces", "path": str(Path(faces_folder).resolve()), "n_crops": len(faces)}
        if labels_csv is not None:
            input_record["labels"] = str(Path(labels_csv).resolve())

    from comicfaces.corrections import compute_input_key, input_key_from_items

    # The input key addresses the corrections a person makes on this input. It
    # depends neither on the package version nor on where the input lies.
    if source is not None:
        input_record["key"] = input_key_from_items("pages", [(r.page_id, r.digest) for r in page_results])
    else:
        input_record["key"] = compute_input_key("faces", faces_folder)
    run_key = make_key("run", {"faceset": faces.key, "input": input_record}, config.to_dict())[:16]
    record = {
        "key": run_key,
        "name": name or Path(input_record["path"]).name,
        "created": started,
        "version": __version__,
        "input": input_record,
        "config": config.to_dict(),
        "errors": listing_errors + faces.errors,
        "n_faces": len(faces),
        "stages": {"faceset": faces.key},
        "cached": {},
        "detection": detection_metrics,
    }

    features = embedding = labels = None
    if len(faces) == 0:
        logger.warning("no faces found; features and clustering skipped")
        faces.table["cluster"] = pd.Series(dtype=int)
        faces.table["noise"] = pd.Series(dtype=bool)
    else:
        try:
            clustered = cluster_face_set(workspace, faces, config, progress)
        except ValueError as error:
            # The faces found so far stay useful (and cached): keep them, unclustered.
            logger.error("clustering failed: %s", error)
            record["clustering_error"] = str(error)
            faces.table["cluster"] = pd.Series(dtype="Int64", index=faces.table.index)
            faces.table["noise"] = pd.Series(dtype="boolean", index=faces.table.index)
        else:
            features, embedding, labels = clustered.features, clustered.embedding, clustered.labels
            timings.update(clustered.timings)
            record["stages"].update(clustered.stage_keys)
            record["cached"].update(clustered.cached)
            record.update({"n_clusters": clustered.n_clusters, "n_noise": clustered.n_noise, "metrics": clustered.metrics})

    record["timings"] = timings
    record["seconds"] = time.time() - started
    _store_faces_table(workspace, run_key, faces.table)
    workspace.save_run(record)
    return RunResult(record, faces.table, page_results, features, embedding, labels)


def noise_as_singletons(labels: np.ndarray) -> np.ndarray:
    """Give every noise face (label -1) a cluster of its own, numbered after the others.

    The faces table shows these labels, so every face has a cluster; the
    ``noise`` column keeps which faces the clustering left unassigned.
    """
    labels = np.asarray(labels, dtype=np.int64).copy()
    noise = labels == -1
    start = labels.max() + 1 if (~noise).any() else 0
    labels[noise] = np.arange(start, start + noise.sum())
    return labels


def evaluate_face_set(table: pd.DataFrame, labels: np.ndarray, embedding: np.ndarray | None) -> dict:
    """Evaluate cluster labels against the ``identity`` column where there is one.

    Faces without an identity are left out of the external scores; silhouette
    and Davies-Bouldin use every non-noise face.
    """
    from comicfaces.metrics import evaluate_clustering

    if "identity" in table:
        truth = [None if pd.isna(value) else str(value) for value in table["identity"]]
    else:
        truth = [None] * len(table)
    return evaluate_clustering(truth, labels, X=embedding)


def attach_truth(faces: FaceSet, pages: Sequence[PageSource], results: Sequence[PageResult], truth_path: str | Path) -> dict:
    """Score detections against COCO face annotations and label matched faces.

    Annotated images are matched to input pages by file path. Adds an
    ``identity`` column to ``faces.table``: the identity of the annotated box
    each face matches at IoU 0.5, or None for false positives and faces on boxes
    marked ignore (one-off ``extra`` characters each get an identity of their
    own). Returns detection metrics over the annotated pages that were read.
    """
    from comicfaces.annotations import load_face_annotations
    from comicfaces.detect import Detections
    from comicfaces.detect.evaluate import detection_identities, evaluate_detections

    by_path = {page.path.resolve(): page.page_id for page in pages if page.member is None}
    by_id = {result.page_id: result for result in results if result.error is None}

    # COCO files name images relative to the annotation file's parent folder,
    # as published data sets do, or relative to its own folder. The first root
    # that leads to the input pages is used.
    annotations = load_face_annotations(truth_path)
    if not any(Path(t.path).resolve() in by_path for t in annotations.values()):
        annotations = load_face_annotations(truth_path, root=Path(truth_path).parent)

    truth, detections = {}, {}
    for page_truth in annotations.values():
        page_id = by_path.get(Path(page_truth.path).resolve())
        if page_id is None or page_id not in by_id:
            continue
        rows = faces.table[faces.table["page"] == page_id]
        truth[page_id] = page_truth
        detections[page_id] = Detections(
            rows[["x0", "y0", "x1", "y1"]].to_numpy(float), rows["score"].to_numpy(float), rows["detector"].to_numpy(str)
        )
    if not truth:
        raise ValueError(
            f"{truth_path}: none of its annotated images is among the input pages; "
            "its file_name values must lead to the same files, relative to the annotation file's parent folder"
        )

    report = evaluate_detections(detections, truth)
    identities: dict[str, list] = {page_id: detection_identities(detections[page_id], truth[page_id]) for page_id in truth}
    column = []
    for page_id, face_id in zip(faces.table["page"], faces.table["face_id"]):
        index = int(str(face_id).rsplit("_f", 1)[1])
        column.append(identities[page_id][index] if page_id in identities else None)
    faces.table["identity"] = pd.Series(column, index=faces.table.index, dtype=object)
    overall = dataclasses.asdict(report.overall)
    return {"overall": overall, "pages": [dataclasses.asdict(score) for score in report.pages], "n_annotated_pages": len(truth)}


def _store_faces_table(workspace: Workspace, run_key: str, table: pd.DataFrame) -> None:
    from comicfaces.cache import atomic_write_text

    atomic_write_text(workspace.root / "runs" / f"{run_key}.faces.csv", table.to_csv(index=False))


def load_run_faces(workspace: Workspace, run_key: str) -> pd.DataFrame:
    """Return the faces table stored with a run."""
    path = workspace.root / "runs" / f"{run_key}.faces.csv"
    if not path.is_file():
        raise KeyError(f"faces table of run {run_key!r} not found in {workspace.root}")
    return pd.read_csv(path)


def write_outputs(result: RunResult, out_dir: str | Path, copy_crops: bool = True) -> Path:
    """Write ``faces.csv``, the crops and ``summary.json`` of a run into ``out_dir``."""
    import shutil

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = result.faces.copy()
    if copy_crops and len(table):
        (out / "crops").mkdir(exist_ok=True)
        names = []
        for face_id, crop in zip(table["face_id"], table["crop"]):
            target = out / "crops" / f"{Path(str(face_id)).stem}.png"
            shutil.copyfile(crop, target)
            names.append(str(target.relative_to(out)))
        table["crop"] = names
    from comicfaces.cache import atomic_write_text

    atomic_write_text(out / "faces.csv", table.to_csv(index=False))
    summary = {k: v for k, v in result.record.items() if k != "config"}
    summary["pages"] = [
        {
            "page": p.page_id,
            "faces": int(len(p.faces)),
            "panels": int(len(p.panels)),
            "text_boxes": int(len(p.text_boxes)),
            "error": p.error,
        }
        for p in result.pages
    ]
    atomic_write_json(out / "summary.json", summary)
    atomic_write_json(out / "config.json", result.record["config"])
    return out / "faces.csv"
