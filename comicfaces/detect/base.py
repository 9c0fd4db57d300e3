"""Shared parts of the face detectors: the result type, the base class and tiling.

A detector takes an RGB ``uint8`` page of shape ``(H, W, 3)`` and returns
:class:`Detections` in pixels of that page, boxes ``(x0, y0, x1, y1)`` with
``x1, y1`` exclusive (see :mod:`comicfaces.boxes`).
"""

from __future__ import annotations

import inspect
import logging
import numbers
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pathlib import Path

import numpy as np

from comicfaces.boxes import as_boxes, nms

logger = logging.getLogger(__name__)

__all__ = [
    "Availability",
    "Detections",
    "FaceDetector",
    "check_choice",
    "check_image",
    "check_integer",
    "check_path",
    "check_real",
    "detect_tiled",
    "is_integer",
    "is_real",
    "tile_origins",
    "validate_scales",
]


@dataclass(frozen=True, eq=False)
class Detections:
    """Face boxes found on one page.

    Attributes
    ----------
    boxes : ndarray of shape (n, 4)
        ``(x0, y0, x1, y1)`` in page pixels, float.
    scores : ndarray of shape (n,)
        Confidence in ``[0, 1]``. Scores of different detectors are not
        calibrated against each other, so they only rank boxes of one detector.
    detectors : ndarray of shape (n,)
        Name of the detector that produced each box (``str``).
    """

    boxes: np.ndarray
    scores: np.ndarray
    detectors: np.ndarray

    def __post_init__(self) -> None:
        boxes = as_boxes(self.boxes)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        detectors = np.asarray(self.detectors, dtype=str).reshape(-1)
        if not len(boxes) == len(scores) == len(detectors):
            raise ValueError(
                f"Detections: {len(boxes)} boxes, {len(scores)} scores and {len(detectors)} "
                "detector names; the three must have the same length"
            )
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "detectors", detectors)

    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        names = sorted(set(self.detectors.tolist()))
        return f"Detections(n={len(self)}, detectors={names})"

    @classmethod
    def empty(cls) -> Detections:
        """Return detections with no box."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=str))

    @classmethod
    def from_arrays(cls, boxes, scores, detector: str) -> Detections:
        """Build detections whose boxes all come from one detector."""
        boxes = as_boxes(boxes)
        return cls(boxes, scores, np.full(len(boxes), detector, dtype=object).astype(str))

    @classmethod
    def concatenate(cls, parts: Sequence[Detections]) -> Detections:
        """Join the boxes of several :class:`Detections` in order."""
        parts = [part for part in parts if len(part)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([part.boxes for part in parts]),
            np.concatenate([part.scores for part in parts]),
            np.concatenate([part.detectors.astype(object) for part in parts]).astype(str),
        )

    def select(self, index) -> Detections:
        """Return the boxes at ``index`` (integer indices or a boolean mask)."""
        index = np.asarray(index)
        if index.dtype != bool:
            index = index.astype(np.int64)
        return Detections(self.boxes[index], self.scores[index], self.detectors[index])

    def sorted_by_score(self) -> Detections:
        """Return the boxes ordered by decreasing score (stable for ties)."""
        return self.select(np.argsort(-self.scores, kind="stable"))

    def to_records(self) -> list[dict[str, Any]]:
        """Return one JSON-serialisable dict per box."""
        return [
            {
                "x0": float(box[0]),
                "y0": float(box[1]),
                "x1": float(box[2]),
                "y1": float(box[3]),
                "score": float(score),
                "detector": str(name),
            }
            for box, score, name in zip(self.boxes, self.scores, self.detectors)
        ]


class Availability(NamedTuple):
    """Whether a detector can run here, and if not, why and what to do."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a contiguous RGB uint8 array, or raise ValueError naming the problem."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {array.shape}")
    if array.dtype != np.uint8:
        raise ValueError(f"expected an RGB image of dtype uint8, got {array.dtype}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"image is empty (shape {array.shape})")
    return np.ascontiguousarray(array)


class FaceDetector:
    """Base class of the face detectors.

    Subclasses list their parameters as keyword arguments of ``__init__``,
    which stores them unchanged under the same names and then calls
    :meth:`validate`. :meth:`get_params` reads them back, so a detector and its
    parameters can be written to JSON and cache keys.

    Attributes
    ----------
    name : str
        Registry name of the detector (``"yunet"``, ...).
    uses_model_files : bool
        True when the detector loads a file found through ``models_dir``.
    model_file_parameter : str or None
        Name of the parameter that names a model file chosen by the user
        (weights or network), or None when the detector has none.
    """

    name: str = ""
    uses_model_files: bool = False
    model_file_parameter: str | None = None

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """Return the parameters given to ``__init__``, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""

    def check(self) -> Availability:
        """Report whether this detector, with its parameters, can run here."""
        raise NotImplementedError

    @classmethod
    def available(cls, **params) -> Availability:
        """Report whether the detector can run here with ``params``.

        Returns an :class:`Availability` whose ``reason`` names what is missing
        and what to do (install a package, put a model file in a folder).
        Raises ValueError for invalid parameters.
        """
        return cls(**params).check()

    def user_model_file(self) -> Path | None:
        """Return the file named by the parameter :attr:`model_file_parameter`, or None.

        The value is a path, or a bare file name searched in ``models_dir`` and
        the other model folders (:func:`comicfaces.detect.models.resolve_model_path`).
        """
        if self.model_file_parameter is None:
            return None
        from comicfaces.detect.models import resolve_model_path

        return resolve_model_path(getattr(self, self.model_file_parameter), getattr(self, "models_dir", None))

    def model_files(self) -> list[Path]:
        """Return the files chosen by the user that this detector reads (weights, model configuration).

        Cache keys hash their content, so results are recomputed when a file is
        replaced under the same name. Files that ship with a package or are
        checked against a fixed SHA-256 are not listed. By default this is the
        :meth:`user_model_file` when it is found.
        """
        found = self.user_model_file()
        return [] if found is None else [found]

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find faces on an RGB uint8 page; boxes are in page pixels."""
        raise NotImplementedError


def is_integer(value) -> bool:
    """Return True for Python and NumPy integers, False for bools and everything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """Return True for finite real numbers, False for bools, NaN and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and bool(np.isfinite(value))


def _format_bound(value) -> str:
    # Print 0.0 as "0" and 1.5 as "1.5", so a message reads "(0, 1]".
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_real(
    owner: str,
    name: str,
    value,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a finite real number in an interval.

    Parameters
    ----------
    owner : str
        Name of the detector, written first in the message.
    name : str
        Name of the parameter.
    value : object
        The value to check.
    low, high : float
        Bounds of the interval.
    low_open, high_open : bool
        True excludes the bound from the interval, so ``low_open=True`` and
        ``high_open=False`` check ``low < value <= high``.

    Raises
    ------
    ValueError
        If ``value`` is not a real number (bools and strings are rejected), is
        NaN or infinite, or lies outside the interval. The message reads, for
        example, ``"yunet: nms_iou must be in (0, 1], got 0.0"``.
    """
    if is_real(value):
        above_low = value > low if low_open else value >= low
        below_high = value < high if high_open else value <= high
        if above_low and below_high:
            return

    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    interval = f"{left}{_format_bound(low)}, {_format_bound(high)}{right}"
    raise ValueError(f"{owner}: {name} must be in {interval}, got {value!r}")


def check_integer(
    owner: str,
    name: str,
    value,
    low: int,
    high: int | None = None,
    *,
    multiple_of: int | None = None,
    optional: bool = False,
    unit: str = "",
    high_text: str | None = None,
) -> None:
    """Raise ValueError unless ``value`` is an integer in ``[low, high]``.

    Parameters
    ----------
    owner : str
        Name of the detector, written first in the message.
    name : str
        Name of the parameter.
    value : object
        The value to check. Python and NumPy integers pass, but bools and
        floats such as ``512.0`` do not.
    low : int
        Smallest allowed value.
    high : int or None
        Largest allowed value, or None for no upper bound.
    multiple_of : int or None
        When given, ``value`` must also be a multiple of it.
    optional : bool
        True lets ``value`` be None.
    unit : str
        Unit named after the range in the message, such as ``"pixels"``.
    high_text : str or None
        Text shown for the upper bound in the message in place of ``high``,
        such as ``"tile_size / 2 = 80"`` for a bound that depends on another
        parameter.

    Raises
    ------
    ValueError
        If ``value`` is out of range, not an integer or not a multiple of
        ``multiple_of``. The message reads, for example, ``"trained: tile_size
        must be None or a multiple of 32 in [128, 4096] pixels, got 200"``.
    """
    if optional and value is None:
        return
    if (
        is_integer(value)
        and value >= low
        and (high is None or value <= high)
        and (multiple_of is None or value % multiple_of == 0)
    ):
        return

    kind = "an integer" if multiple_of is None else f"a multiple of {multiple_of}"
    upper = high if high_text is None else high_text
    allowed = f">= {low}" if high is None else f"in [{low}, {upper}]"
    expected = f"{kind} {allowed}"
    if unit:
        expected = f"{expected} {unit}"
    if optional:
        expected = f"None or {expected}"
    raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")


def check_choice(owner: str, name: str, value, choices: Collection[str]) -> None:
    """Raise ValueError unless ``value`` is one of the strings ``choices``.

    ``choices`` may be a tuple or the keys of a dict, and the message lists them
    in iteration order. A value that is not a string, a list for instance,
    raises the same ValueError.
    """
    if isinstance(value, str) and value in choices:
        return
    raise ValueError(f"{owner}: {name} must be one of {', '.join(choices)}, got {value!r}")


def check_path(owner: str, name: str, value, *, expected: str = "a folder path", optional: bool = False) -> None:
    """Raise ValueError unless ``value`` is a ``str`` or ``os.PathLike``.

    Only the type is checked, because the file is looked up later, when the
    detector loads it. ``expected`` describes the path in the message, such as
    ``"a file path or name"``, and ``optional=True`` lets ``value`` be None.
    """
    if (optional and value is None) or isinstance(value, (str, os.PathLike)):
        return

    if optional:
        expected = f"{expected} or None"
    raise ValueError(f"{owner}: {name} must be {expected}, got {value!r}")


def validate_scales(name: str, scales) -> tuple[float, ...]:
    """Return ``scales`` as a tuple of floats, or raise ValueError for a bad value."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not all(is_real(s) for s in scales):
        raise ValueError(f"{name}: scales must be a sequence of numbers, got {scales!r}")
    values = tuple(float(s) for s in scales)
    if not values:
        raise ValueError(f"{name}: scales must contain at least one value, got {scales!r}")
    for value in values:
        if not 0.05 <= value <= 4.0:
            raise ValueError(f"{name}: scales value {value} is outside the allowed range [0.05, 4.0]")
    return values


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Return the start offsets of tiles of size ``tile`` that cover ``[0, length)``.

    Neighbouring tiles overlap by at least ``overlap`` pixels. A length that
    fits in one tile gives ``[0]``. The last tile ends exactly at ``length``.
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    origins = list(range(0, length - tile, stride))
    origins.append(length - tile)
    return sorted(set(origins))


def detect_tiled(
    image_rgb: np.ndarray,
    detect_tile: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    *,
    tile_size: int,
    tile_overlap: int,
    scales: Sequence[float],
    nms_iou: float,
    pad_value: int = 255,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a fixed-input detector over square tiles of a page at several scales.

    Parameters
    ----------
    image_rgb : ndarray of shape (H, W, 3)
        RGB uint8 page.
    detect_tile : callable
        Takes an RGB tile of shape ``(tile_size, tile_size, 3)`` and returns
        ``(boxes, scores)`` in tile pixels.
    tile_size : int
        Side of a tile in pixels of the resized page.
    tile_overlap : int
        Minimum overlap of neighbouring tiles in pixels of the resized page.
    scales : sequence of float
        Resize factors; 0.5 finds faces twice as large as 1.0 does.
    nms_iou : float
        IoU above which a box of lower score is dropped after all tiles ran.
    pad_value : int
        Grey level of the padding added to pages smaller than a tile. White,
        because comic pages have white gutters and margins.

    Returns
    -------
    boxes : ndarray of shape (n, 4)
        In page pixels, clipped to the page.
    scores : ndarray of shape (n,)

    Notes
    -----
    A face cut by an inner tile edge yields a partial box. Such a box is dropped
    when it is narrower (or shorter, for a horizontal edge) than the overlap,
    because then the neighbouring tile contains the whole face. Larger faces cut by
    an edge are kept and left to NMS and to the smaller scales. Cost is
    proportional to the number of tiles: about ``sum(s**2) * H * W / (tile_size
    - tile_overlap)**2``.
    """
    import cv2

    height, width = image_rgb.shape[:2]
    all_boxes: list[np.ndarray] = []
    all_scores: list[np.ndarray] = []
    edge_tolerance = 2.0

    for scale in scales:
        if scale == 1.0:
            resized = image_rgb
        else:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            resized = cv2.resize(image_rgb, size, interpolation=interpolation)
        resized_height, resized_width = resized.shape[:2]

        # Pad to at least one full tile so every tile has the fixed input size.
        padded = cv2.copyMakeBorder(
            resized,
            0,
            max(0, tile_size - resized_height),
            0,
            max(0, tile_size - resized_width),
            cv2.BORDER_CONSTANT,
            value=(pad_value, pad_value, pad_value),
        )

        for y0 in tile_origins(resized_height, tile_size, tile_overlap):
            for x0 in tile_origins(resized_width, tile_size, tile_overlap):
                tile = np.ascontiguousarray(padded[y0 : y0 + tile_size, x0 : x0 + tile_size])
                boxes, scores = detect_tile(tile)
                boxes = as_boxes(boxes)
                scores = np.asarray(scores, dtype=np.float64).reshape(-1)
                if not len(boxes):
                    continue

                box_width = boxes[:, 2] - boxes[:, 0]
                box_height = boxes[:, 3] - boxes[:, 1]
                cut = np.zeros(len(boxes), dtype=bool)
                if x0 > 0:
                    cut |= (boxes[:, 0] <= edge_tolerance) & (box_width < tile_overlap)
                if x0 + tile_size < resized_width:
                    cut |= (boxes[:, 2] >= tile_size - edge_tolerance) & (box_width < tile_overlap)
                if y0 > 0:
                    cut |= (boxes[:, 1] <= edge_tolerance) & (box_height < tile_overlap)
                if y0 + tile_size < resized_height:
                    cut |= (boxes[:, 3] >= tile_size - edge_tolerance) & (box_height < tile_overlap)

                boxes = boxes[~cut] + np.array([x0, y0, x0, y0], dtype=np.float64)
                all_boxes.append(boxes / scale)
                all_scores.append(scores[~cut])

    if not all_boxes:
        return np.zeros((0, 4)), np.zeros(0)

    boxes = np.concatenate(all_boxes)
    scores = np.concatenate(all_scores)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[valid], scores[valid]

    keep = nms(boxes, scores, iou_threshold=nms_iou)
    return boxes[keep], scores[keep]
