"""Retraining the face detector from the corrections of a reviewed run, with a before/after benchmark.

:func:`retrain_from_corrections` trains :mod:`comicfaces.detect.train`'s
CenterNet detector on the corrected boxes of a run's pages
(:mod:`comicfaces.detect.corrected_pages`), then scores three sets of boxes
on the held-out pages against the corrected boxes there:

``before``
    The run's own boxes: the rows of the view not added by hand, with their
    scores, including those rejected later, since the run produced them.
``after``
    The retrained detector alone.
``before + trained``
    Both merged with NMS, as :func:`comicfaces.detect.merge.detect_faces`
    merges detectors.

Each retraining is a workspace cache entry of stage :data:`RETRAINING_STAGE`
(see :class:`comicfaces.cache.Workspace`). Its key hashes the page files, the
kept boxes, the run's boxes on the held-out pages and the parameters, so the
same request is served from the store. A retraining that fine-tunes an earlier
model (:attr:`RetrainingConfig.init_from`) hashes that model's weights file, so
a changed starting model trains again. The entry folder contains the model
files ``detector.pt`` and ``detector.json``, so the folder is the
``model_path`` of the ``trained`` detector. Beside them are the result as JSON
(:data:`RESULT_FILE`) and ``meta.json``, written last.

The module imports torch only inside the functions that train or detect.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from comicfaces.cache import Workspace, atomic_write_json, make_key
from comicfaces.detect.base import Detections, is_integer, is_real
from comicfaces.detect.corrected_pages import (
    CorrectedPage,
    CorrectionPlan,
    CorrectionSet,
    decode_corrected_pages,
    plan_split,
    read_corrected_pages,
)
from comicfaces.detect.train import ProgressCallback, _no_progress
from comicfaces.imageio import PageSource

logger = logging.getLogger(__name__)

__all__ = [
    "BENCHMARK_ROWS",
    "RESULT_FILE",
    "RETRAINING_STAGE",
    "RetrainingConfig",
    "RetrainingResult",
    "SCORE_FIELDS",
    "benchmark_detections",
    "list_retrainings",
    "load_retraining",
    "retrain_from_corrections",
    "retraining_key",
    "run_pages",
]

#: Cache stage of the retrained models.
RETRAINING_STAGE = "detector_retraining"

#: JSON file of a :class:`RetrainingResult`, beside the model files.
RESULT_FILE = "retraining.json"

#: Names of the benchmark rows, in table order.
BENCHMARK_ROWS = ("before", "after", "before + trained")

#: Scores of a benchmark row, NaN where undefined (None in JSON).
SCORE_FIELDS = ("recall", "precision", "f1", "ap")

#: Columns of a benchmark row besides its name: the scores, then the counts.
BENCHMARK_FIELDS = (*SCORE_FIELDS, "n_truth", "n_detections", "true_positives", "false_positives", "false_negatives")

#: Fields of :class:`RetrainingConfig` that change where the work runs but not what it computes,
#: so they are left out of the cache key.
_UNKEYED_FIELDS = ("device", "num_threads")

#: Remedy appended to the error messages of an invalid :attr:`RetrainingConfig.init_from`.
_INIT_FROM_FIX = (
    "Retraining uses train_detector's default architecture, so start from a stored retraining "
    "(the model_path of an entry of list_retrainings) or from None, the ImageNet backbone"
)


@dataclass(frozen=True)
class RetrainingConfig:
    """Parameters of :func:`retrain_from_corrections`.

    Attributes
    ----------
    epochs : int
        Passes over the training pages, in ``[1, 10000]``.
    image_size : int
        Side of the square training crops in pixels, a multiple of 32 in ``[64, 2048]``.
    held_out_share : float
        Share of the pages with kept boxes held out for the benchmark, in
        ``(0, 1)``. At least one such page is held out and at least one is
        trained on.
    seed : int
        Seed of the page split, the crops and the initialisation, ``>= 0``.
    batch_size : int
        Crops per optimiser step, in ``[1, 256]``.
    lr : float
        Peak learning rate, in ``(0, 1]``.
    max_side : int
        Inference scale: pages are resized so their longer side has this many
        pixels, in ``[128, 8192]``. Stored with the model.
    crops_per_page : int
        Random crops taken from each training page per epoch, in ``[1, 1000]``.
    pretrained : bool
        Start from the ImageNet EfficientNet-Lite0 weights; False starts from
        random weights (for tests). Unused when ``init_from`` is set.
    score_threshold : float
        Minimum score of the retrained detector's boxes in the benchmark, in
        ``(0, 1)``. Use the same value when selecting the detector.
    device : str
        ``"auto"`` (a CUDA GPU when torch finds one, else the CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    num_threads : int or None
        torch CPU threads while training, or None for torch's setting.
    init_from : str or None
        Model folder to fine-tune instead of starting from the ImageNet
        backbone: the ``model_path`` of a stored retraining, or another folder
        written by :func:`comicfaces.detect.train.train_detector` with that
        function's default architecture. The cache key contains the SHA-256 of
        its ``detector.pt``, not its path.
    """

    epochs: int = 10
    image_size: int = 320
    held_out_share: float = 0.2
    seed: int = 0
    batch_size: int = 8
    lr: float = 2e-3
    max_side: int = 1024
    crops_per_page: int = 2
    pretrained: bool = True
    score_threshold: float = 0.3
    device: str = "auto"
    num_threads: int | None = None
    init_from: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.init_from, os.PathLike):
            object.__setattr__(self, "init_from", os.fspath(self.init_from))

    def training_options(self) -> dict[str, Any]:
        """Return the keyword arguments of :func:`comicfaces.detect.train.train_detector`."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "image_size": self.image_size,
            "seed": self.seed,
            "max_side": self.max_side,
            "crops_per_page": self.crops_per_page,
            "pretrained": self.pretrained,
            "device": self.device,
            "num_threads": self.num_threads,
            "init_from": self.init_from,
        }

    def key_params(self) -> dict[str, Any]:
        """Return the fields that change the result, for the cache key.

        ``init_from`` is replaced by the SHA-256 of the starting model's
        weights file, so moving or copying that model keeps the key. Reading
        the file raises FileNotFoundError when the model is missing.
        """
        from comicfaces.detect.models import file_sha256
        from comicfaces.detect.train import resolve_model_files

        values = dataclasses.asdict(self)
        for name in _UNKEYED_FIELDS:
            values.pop(name)
        if self.init_from is not None:
            weights, _ = resolve_model_files(self.init_from)
            values["init_from"] = {"weights_sha256": file_sha256(weights)}
            # Fine-tuning ignores the ImageNet weights, so this flag changes nothing.
            values.pop("pretrained")
        return values

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field, its value and the allowed range."""
        from comicfaces.detect.train import DetectorTrainingConfig

        if not is_real(self.held_out_share) or not 0.0 < self.held_out_share < 1.0:
            raise ValueError(f"RetrainingConfig.held_out_share must be a number in (0, 1), got {self.held_out_share!r}")
        if not is_integer(self.seed) or self.seed < 0:
            raise ValueError(f"RetrainingConfig.seed must be an integer >= 0, got {self.seed!r}")
        if not is_real(self.score_threshold) or not 0.0 < self.score_threshold < 1.0:
            raise ValueError(f"RetrainingConfig.score_threshold must be a number in (0, 1), got {self.score_threshold!r}")
        try:
            DetectorTrainingConfig(**self.training_options()).validate()
        except (TypeError, ValueError) as error:
            message = str(error).replace("DetectorTrainingConfig.", "RetrainingConfig.")
            if message.startswith("RetrainingConfig.init_from"):
                message += f". {_INIT_FROM_FIX}"
            raise ValueError(message) from None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RetrainingConfig:
        """Build a config from :func:`dataclasses.asdict` output; raise ValueError naming unknown keys."""
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"RetrainingConfig: unknown field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(known))}")
        return cls(**dict(values))


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _nan_if_none(value):
    return float("nan") if value is None else value


@dataclass(frozen=True)
class RetrainingResult:
    """Outcome of :func:`retrain_from_corrections`, stored as JSON beside the model.

    Attributes
    ----------
    key : str
        Cache key of the entry.
    model_path : str
        Folder of the model: the ``model_path`` parameter of the ``trained`` detector.
    run_key, run_name, input_key : str
        The run whose corrections were learnt, and the key of its input.
    config : dict
        The :class:`RetrainingConfig` fields.
    train_pages, held_out_pages : list of str
        The page split.
    counts : dict of str to int
        ``pages``, ``kept`` (kept boxes, added included), ``added``,
        ``rejected``, ``train_boxes``, ``held_out_boxes`` and ``skipped``
        (unreadable pages without kept boxes, left out).
    benchmark : list of dict
        One row per name in :data:`BENCHMARK_ROWS`: ``name`` and the
        :data:`BENCHMARK_FIELDS`. Recall, precision, F1 and AP are NaN where
        they are undefined (precision without any box).
    history : list of dict
        Loss per epoch, as :class:`comicfaces.detect.train.TrainingResult` records it.
    device : str
        Device the model was trained on.
    seconds : float
        Time of the training and the benchmark.
    created : float
        UNIX time of the training.
    reused : bool
        True when the result was read from the store instead of computed.
        It describes this call, so it is not written to JSON.
    """

    key: str
    model_path: str
    run_key: str
    run_name: str
    input_key: str
    config: dict
    train_pages: list
    held_out_pages: list
    counts: dict
    benchmark: list
    history: list
    device: str
    seconds: float
    created: float
    reused: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data; NaN becomes None and ``reused`` is left out."""
        values = dataclasses.asdict(self)
        values.pop("reused")
        values["benchmark"] = [{name: _finite_or_none(value) for name, value in row.items()} for row in self.benchmark]
        values["history"] = [{name: _finite_or_none(value) for name, value in row.items()} for row in self.history]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], reused: bool = False) -> RetrainingResult:
        """Build a result from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If a field is missing or unknown.
        """
        known = [item.name for item in dataclasses.fields(cls) if item.name != "reused"]
        missing = [name for name in known if name not in values]
        unknown = sorted(set(values) - set(known))
        if missing or unknown:
            raise ValueError(f"not a retraining result: missing field(s) {missing}, unknown field(s) {unknown}")
        data = {name: values[name] for name in known}
        data["benchmark"] = [
            {name: _nan_if_none(value) if name in SCORE_FIELDS else value for name, value in row.items()}
            for row in values["benchmark"]
        ]
        data["history"] = [
            {name: _nan_if_none(value) if name == "val_loss" else value for name, value in row.items()}
            for row in values["history"]
        ]
        for name in ("train_pages", "held_out_pages"):
            data[name] = list(values[name])
        return cls(**data, reused=reused)

    def benchmark_table(self) -> pd.DataFrame:
        """Return the benchmark as a table, one row per detector set."""
        return pd.DataFrame(self.benchmark, columns=["name", *BENCHMARK_FIELDS])

    def history_table(self) -> pd.DataFrame:
        """Return the loss history as a table, one row per epoch."""
        return pd.DataFrame(self.history)


# -- pages and key -------------------------------------------------------------------------


def run_pages(record: Mapping) -> list[PageSource]:
    """Return the pages of a run on pages, from ``record["input"]["path"]``.

    Raises
    ------
    ValueError
        If the run is not on pages or records no input path.
    FileNotFoundError
        If the input path no longer exists.
    """
    from comicfaces.imageio import list_pages

    source = record.get("input") or {}
    if source.get("kind") != "pages":
        raise ValueError(f"run {record.get('key')!r} is on face crops, which have no pages to learn from")
    if not source.get("path"):
        raise ValueError(
            f"run {record.get('key')!r} records no input path, so its pages cannot be read; "
            "pass its pages to retrain_from_corrections"
        )
    path = Path(source["path"])
    if not path.exists():
        raise FileNotFoundError(f"input of run {record.get('key')!r} not found: {path}")
    return list_pages(path)


def _rounded(boxes: np.ndarray) -> list:
    return np.round(np.asarray(boxes, dtype=np.float64), 2).tolist()


def retraining_key(read: Sequence[CorrectedPage], plan: CorrectionPlan, config: RetrainingConfig, benchmark: Mapping) -> str:
    """Return the cache key of a retraining.

    It hashes each page's name and file digest, the kept boxes, the run's
    boxes and scores on the held-out pages (the ``before`` row), the keyed
    parameters and the benchmark's merge parameters ``benchmark``.
    """
    held_out = set(plan.held_out_pages)
    inputs = {
        "pages": [[page.page_id, page.digest] for page in read],
        "kept": {page.page_id: _rounded(page.kept) for page in read if len(page.kept)},
        "before": {
            page.page_id: [
                _rounded(page.detections.boxes),
                np.round(page.detections.scores, 6).tolist(),
                page.detections.detectors.tolist(),
            ]
            for page in read
            if page.page_id in held_out
        },
    }
    return make_key(RETRAINING_STAGE, inputs, {**config.key_params(), "benchmark": dict(benchmark)})


# -- benchmark ---------------------------------------------------------------------------


def _benchmark_settings(record: Mapping) -> dict[str, float]:
    """Return the run's box filter and merge parameters, which the benchmark applies too."""
    from comicfaces.detect.merge import FaceConfig

    defaults = FaceConfig()
    faces = (record.get("config") or {}).get("faces") or {}
    return {
        "min_size": float(faces.get("min_size", defaults.min_size)),
        "nms_iou": float(faces.get("nms_iou", defaults.nms_iou)),
    }


def _score_row(name: str, detections: Mapping[str, Detections], truth: Mapping) -> dict:
    from comicfaces.detect.evaluate import evaluate_detections

    overall = evaluate_detections(detections, truth).overall
    row = {"name": name}
    for field_name in BENCHMARK_FIELDS:
        value = getattr(overall, field_name)
        row[field_name] = float(value) if field_name in SCORE_FIELDS else int(value)
    return row


def benchmark_detections(
    correction_set: CorrectionSet,
    model_path: str | Path,
    score_threshold: float,
    min_size: float,
    nms_iou: float,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
) -> list[dict]:
    """Score the run's boxes, the retrained detector and both merged on the held-out pages.

    Parameters
    ----------
    correction_set : CorrectionSet
        Held-out pages with their corrected boxes (the truth) and the run's boxes.
    model_path : path
        Folder of the retrained model.
    score_threshold : float
        Minimum score of the retrained detector's boxes.
    min_size : float
        The run's ``FaceConfig.min_size``: the retrained detector's boxes with
        a shorter side below it are dropped, as the run drops its own.
    nms_iou : float
        IoU of the NMS that merges the run's boxes with the retrained ones.
    device : str
        Device of the retrained detector.
    progress : callable, optional
        ``progress("benchmark", done, total)`` after each page.

    Returns
    -------
    list of dict
        One row per name in :data:`BENCHMARK_ROWS`; see :attr:`RetrainingResult.benchmark`.

    Notes
    -----
    The retrained detector runs on the whole page, one pass per held-out
    page. NOTE: the pipeline runs detectors on pages whose text the text
    stage blanked, and drops boxes covered by text, so the ``after`` row can
    differ a little from what a run with the retrained detector finds.
    """
    from comicfaces.detect.merge import filter_detections, merge_detections
    from comicfaces.detect.trained import TrainedDetector

    progress = progress or _no_progress
    detector = TrainedDetector(str(model_path), score_threshold=score_threshold, device=device)
    after, merged = {}, {}
    for index, page in enumerate(correction_set.held_out):
        found = filter_detections(detector.detect(page.load()), min_size=min_size)
        after[page.name] = found
        merged[page.name] = merge_detections([correction_set.before[page.name], found], nms_iou).sorted_by_score()
        progress("benchmark", index + 1, len(correction_set.held_out))
    row_detections = (correction_set.before, after, merged)
    return [_score_row(name, found, correction_set.truth) for name, found in zip(BENCHMARK_ROWS, row_detections)]


# -- retraining ----------------------------------------------------------------------------


def retrain_from_corrections(
    workspace: Workspace,
    view: pd.DataFrame,
    record: Mapping,
    config: RetrainingConfig | None = None,
    *,
    pages: Sequence[PageSource] | None = None,
    progress: ProgressCallback | None = None,
) -> RetrainingResult:
    """Train the face detector on a run's corrected boxes, store it, and benchmark it on held-out pages.

    Parameters
    ----------
    workspace : Workspace
        Where the model and its result are stored.
    view : DataFrame
        Corrected view of the run (:meth:`comicfaces.corrections.Corrections.apply`).
    record : mapping
        The run record; ``record["input"]["path"]`` locates the pages unless
        ``pages`` is given, and ``record["config"]["faces"]`` gives the
        ``min_size`` and ``nms_iou`` that the benchmark applies.
    config : RetrainingConfig, optional
        Training parameters; ``RetrainingConfig()`` when None.
    pages : sequence of PageSource, optional
        The run's pages, for runs that record no input path (uploads).
    progress : callable, optional
        ``progress(stage, done, total)`` with stages ``"reading pages"``,
        ``"decoding pages"``, ``"train"``, ``"validate"`` and ``"benchmark"``.

    Returns
    -------
    RetrainingResult
        ``reused`` is True when the same request was already in the store.

    Raises
    ------
    ValueError
        For an invalid parameter, a view without the needed columns, fewer
        than 2 pages with kept boxes, or a run without readable pages (the
        message names the value and what to do).
    comicfaces.imageio.ImageLoadError
        If a page with kept boxes cannot be read.
    FloatingPointError
        If the training loss diverges (lower ``lr``).

    Notes
    -----
    Training costs what :func:`comicfaces.detect.train.train_detector`
    states: ``ceil(training pages * crops_per_page / batch_size)`` optimiser
    steps per epoch, about 18 s each for 8 crops of 320x320 on a 2-core CPU
    in ``benchmarks/train_detector.py``, and much less on a GPU, which
    ``device="auto"`` uses when torch finds one. The benchmark runs the
    retrained detector once per held-out page, about 4 s per page at
    ``max_side=1024`` on that CPU. Every page is decoded into memory first.

    The corrected boxes are all the training signal there is. Boxes left
    unreviewed count as faces, false ones included. Faces the run missed that
    were not added by hand are learnt as background. The benchmark's truth is the
    same corrected boxes, so the ``before`` row finds every kept box the run
    produced: its recall misses only the faces added by hand, and its
    precision counts only the boxes rejected by hand.

    With ``config.init_from`` set, training starts from that model's
    weights instead, and costs the same per step.
    """
    config = RetrainingConfig() if config is None else config
    config.validate()
    progress = progress or _no_progress
    pages = list(run_pages(record) if pages is None else pages)
    if not pages:
        raise ValueError(
            f"run {record.get('key')!r} has no pages to learn from, because its input lists no page images. "
            "Check that the input folder still contains the pages, or pass them as pages="
        )

    plan = plan_split(view, [page.page_id for page in pages], config.held_out_share, config.seed)
    read = read_corrected_pages(view, pages, progress)
    settings = _benchmark_settings(record)
    key = retraining_key(read, plan, config, settings)
    if workspace.has(RETRAINING_STAGE, key):
        logger.info("retraining %s is in the store; not training again", key[:12])
        return load_retraining(workspace, key, reused=True)

    correction_set = decode_corrected_pages(read, plan, progress)
    started = time.perf_counter()
    return _train_and_store(workspace, key, correction_set, record, config, settings, progress, started)


def _train_and_store(
    workspace: Workspace,
    key: str,
    correction_set: CorrectionSet,
    record: Mapping,
    config: RetrainingConfig,
    settings: Mapping[str, float],
    progress: ProgressCallback,
    started: float,
) -> RetrainingResult:
    from comicfaces.detect.train import train_detector
    from comicfaces.nn.device import resolve_device

    plan = correction_set.plan
    device = str(resolve_device(config.device))
    meta: dict[str, Any] = {"config": config.key_params(), "run_key": str(record.get("key", ""))}
    logger.info(
        "retraining the face detector on %d pages (%d held out) of run %s on %s",
        len(correction_set.train), len(correction_set.held_out), record.get("key"), device,
    )
    with workspace.writing(RETRAINING_STAGE, key, meta) as folder:
        training = train_detector(
            correction_set.train, correction_set.held_out, folder, progress=progress, **config.training_options()
        )
        benchmark = benchmark_detections(
            correction_set, folder, config.score_threshold, settings["min_size"], settings["nms_iou"], device, progress
        )
        source = record.get("input") or {}
        result = RetrainingResult(
            key=key,
            model_path=str(workspace.entry_dir(RETRAINING_STAGE, key)),
            run_key=str(record.get("key", "")),
            run_name=str(record.get("name", "")),
            input_key=str(source.get("key", "")),
            config=dataclasses.asdict(config),
            train_pages=[page.name for page in correction_set.train],
            held_out_pages=[page.name for page in correction_set.held_out],
            counts={
                "pages": len(plan.pages),
                "kept": plan.n_kept,
                "added": plan.n_added,
                "rejected": plan.n_rejected,
                "train_boxes": plan.n_train_boxes,
                "held_out_boxes": plan.n_held_out_boxes,
                "skipped": len(correction_set.skipped),
            },
            benchmark=benchmark,
            history=[dict(epoch) for epoch in training.history],
            device=device,
            seconds=time.perf_counter() - started,
            created=time.time(),
        )
        stored = result.to_dict()
        atomic_write_json(folder / RESULT_FILE, stored)
        # Workspace.writing copies this dict into meta.json after the block, so meta.json lists the scores too.
        meta["benchmark"] = stored["benchmark"]
    logger.info("retrained face detector stored as %s in %.1f s", key[:12], result.seconds)
    return result


# -- the store -----------------------------------------------------------------------------


def load_retraining(workspace: Workspace, key: str, reused: bool = False) -> RetrainingResult:
    """Read a stored retraining.

    Raises
    ------
    KeyError
        If the workspace has no complete retraining ``key``.
    ValueError
        If its JSON file is not a retraining result.
    """
    if not workspace.has(RETRAINING_STAGE, key):
        raise KeyError(f"retraining {key!r} not found in {workspace.root}; list them with list_retrainings")
    path = workspace.entry_dir(RETRAINING_STAGE, key) / RESULT_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable retraining result ({error})") from error
    result = RetrainingResult.from_dict(values, reused=reused)
    # The workspace folder may have moved since the training; the entry's own folder is the model's.
    return dataclasses.replace(result, model_path=str(workspace.entry_dir(RETRAINING_STAGE, key)))


def list_retrainings(workspace: Workspace, input_key: str | None = None) -> list[RetrainingResult]:
    """Return the stored retrainings of a workspace, newest first.

    ``input_key`` keeps only those learnt from corrections of that input.
    Unreadable entries are logged and left out.
    """
    results = []
    for meta in workspace.list_entries(RETRAINING_STAGE):
        try:
            result = load_retraining(workspace, str(meta["key"]))
        except (KeyError, ValueError, TypeError) as error:
            logger.warning("skipping unreadable retraining %s: %s", meta.get("key"), error)
            continue
        if input_key is None or result.input_key == input_key:
            results.append(result)
    return sorted(results, key=lambda result: result.created, reverse=True)
