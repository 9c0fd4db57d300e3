"""Axis-aligned boxes: intersection over union, non-maximum suppression, matching.

Every box in comicfaces is ``(x0, y0, x1, y1)`` in pixels of the original page,
origin top-left, ``x0, y0`` inclusive and ``x1, y1`` exclusive, so the region is
``image[y0:y1, x0:x1]``. Arrays of boxes have shape ``(n, 4)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_boxes",
    "box_area",
    "clip_boxes",
    "coverage",
    "expand_boxes",
    "iou_matrix",
    "match_boxes",
    "nms",
]


def as_boxes(boxes) -> np.ndarray:
    """Convert a sequence of boxes to a float array of shape ``(n, 4)``."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got {array.shape}")
    return array


def box_area(boxes) -> np.ndarray:
    """Return the area of each box (zero for empty or inverted boxes)."""
    b = as_boxes(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def iou_matrix(a, b) -> np.ndarray:
    """Return the ``(len(a), len(b))`` matrix of intersection over union."""
    a, b = as_boxes(a), as_boxes(b)
    inter = _intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def coverage(a, b) -> np.ndarray:
    """Return the share of each box of ``a`` covered by each box of ``b``.

    ``coverage(a, b)[i, j]`` is ``area(a[i] & b[j]) / area(a[i])``.
    """
    a, b = as_boxes(a), as_boxes(b)
    inter = _intersection(a, b)
    area = box_area(a)[:, None]
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)


def nms(boxes, scores, iou_threshold: float = 0.4) -> np.ndarray:
    """Greedy non-maximum suppression.

    Returns the indices of the kept boxes, highest score first. A box is dropped
    when its IoU with a kept box of higher score exceeds ``iou_threshold``.
    """
    b = as_boxes(boxes)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        overlaps = iou_matrix(b[best : best + 1], b[order[1:]])[0]
        order = order[1:][overlaps <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def expand_boxes(boxes, margin: float, width: int, height: int) -> np.ndarray:
    """Grow each box by ``margin`` times its size on every side, clipped to the image."""
    b = as_boxes(boxes).copy()
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    b[:, 0] -= margin * w
    b[:, 2] += margin * w
    b[:, 1] -= margin * h
    b[:, 3] += margin * h
    return clip_boxes(np.round(b), width, height)


def clip_boxes(boxes, width: int, height: int) -> np.ndarray:
    """Clip boxes to ``[0, width] x [0, height]``."""
    b = as_boxes(boxes).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def match_boxes(predicted, truth, iou_threshold: float = 0.5, scores=None):
    """Match predicted boxes to ground-truth boxes greedily by score, then IoU.

    Each ground-truth box is matched at most once, to the highest-scoring
    prediction whose IoU with it is at least ``iou_threshold`` (the PASCAL VOC
    rule). Returns ``match`` of length ``len(predicted)``: the index of the
    matched ground-truth box, or -1.
    """
    p, t = as_boxes(predicted), as_boxes(truth)
    match = np.full(len(p), -1, dtype=np.int64)
    if len(p) == 0 or len(t) == 0:
        return match
    order = np.argsort(-np.asarray(scores, dtype=np.float64)) if scores is not None else np.arange(len(p))
    ious = iou_matrix(p, t)
    taken = np.zeros(len(t), dtype=bool)
    for i in order:
        candidates = np.where(~taken & (ious[i] >= iou_threshold))[0]
        if candidates.size:
            j = candidates[np.argmax(ious[i, candidates])]
            match[i] = j
            taken[j] = True
    return match
