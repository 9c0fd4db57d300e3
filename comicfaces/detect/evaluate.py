"""Scores of face detections against ground truth: recall, precision, F1 and AP at IoU 0.5.

Matching follows PASCAL VOC with "difficult" boxes: detections are taken by
decreasing score, and each one matches the unmatched regular truth box with
the highest IoU, if that IoU is at least the threshold (a true positive). A
detection that matches no regular box can lie on an ignored box: its IoU,
or the intersection over the detection's own area, is at least the
threshold. Such a detection is neither a true nor a false positive, and a
missed ignored box is not a false negative. Every other detection,
including a second one on a face already matched, is a false positive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from comicfaces.annotations import PageTruth
from comicfaces.boxes import as_boxes, coverage, iou_matrix, match_boxes
from comicfaces.detect.base import Detections

logger = logging.getLogger(__name__)

__all__ = [
    "DetectionReport",
    "PageMatch",
    "PageScore",
    "average_precision",
    "detection_identities",
    "evaluate_detections",
    "match_detections",
]

TRUE_POSITIVE = "tp"
FALSE_POSITIVE = "fp"
IGNORED = "ignored"


@dataclass(frozen=True, eq=False)
class PageMatch:
    """Matching of one page's detections to its truth boxes.

    Attributes
    ----------
    status : ndarray of shape (n_detections,)
        ``"tp"``, ``"fp"`` or ``"ignored"`` per detection.
    truth_index : ndarray of shape (n_detections,)
        Index of the truth box a detection matched (regular for ``"tp"``,
        ignored for ``"ignored"``), -1 for ``"fp"``.
    found : ndarray of shape (n_truth,)
        True for regular truth boxes matched by a detection. Always False for
        ignored boxes.
    scores : ndarray of shape (n_detections,)
        Detection scores, for AP.
    ignore : ndarray of shape (n_truth,)
        The ignore flags of the truth boxes.
    """

    status: np.ndarray
    truth_index: np.ndarray
    found: np.ndarray
    scores: np.ndarray
    ignore: np.ndarray

    @property
    def true_positives(self) -> int:
        return int((self.status == TRUE_POSITIVE).sum())

    @property
    def false_positives(self) -> int:
        return int((self.status == FALSE_POSITIVE).sum())

    @property
    def ignored(self) -> int:
        """Number of detections that lie on ignored truth boxes."""
        return int((self.status == IGNORED).sum())

    @property
    def n_truth(self) -> int:
        """Number of regular (not ignored) truth boxes."""
        return int((~self.ignore).sum())

    @property
    def missed(self) -> np.ndarray:
        """Indices of regular truth boxes that no detection matched."""
        return np.flatnonzero(~self.ignore & ~self.found)


def match_detections(boxes, scores, truth_boxes, truth_ignore=None, iou_threshold: float = 0.5) -> PageMatch:
    """Match one page's detections to its truth boxes (see the module docstring for the rule).

    Parameters
    ----------
    boxes : array-like of shape (n, 4)
        Detected boxes ``(x0, y0, x1, y1)``.
    scores : array-like of shape (n,)
        Detection scores; higher scores are matched first.
    truth_boxes : array-like of shape (m, 4)
        Truth boxes in the same pixels.
    truth_ignore : array-like of shape (m,), optional
        True for ignored truth boxes; none ignored when None.
    iou_threshold : float
        Minimum IoU for a match, in ``(0, 1]``.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    boxes = as_boxes(boxes)
    truth = as_boxes(truth_boxes)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    ignore = np.zeros(len(truth), dtype=bool) if truth_ignore is None else np.asarray(truth_ignore, dtype=bool)
    if len(ignore) != len(truth):
        raise ValueError(f"{len(truth)} truth boxes but {len(ignore)} ignore flags")

    status = np.full(len(boxes), FALSE_POSITIVE, dtype=object)
    truth_index = np.full(len(boxes), -1, dtype=np.int64)
    found = np.zeros(len(truth), dtype=bool)

    regular = np.flatnonzero(~ignore)
    matched = match_boxes(boxes, truth[regular], iou_threshold=iou_threshold, scores=scores)
    for detection, j in enumerate(matched):
        if j >= 0:
            status[detection] = TRUE_POSITIVE
            truth_index[detection] = regular[j]
            found[regular[j]] = True

    ignored = np.flatnonzero(ignore)
    unmatched = np.flatnonzero(matched < 0)
    if len(ignored) and len(unmatched):
        overlap = np.maximum(
            iou_matrix(boxes[unmatched], truth[ignored]),
            coverage(boxes[unmatched], truth[ignored]),
        )
        for row, detection in enumerate(unmatched):
            best = int(np.argmax(overlap[row]))
            if overlap[row, best] >= iou_threshold:
                status[detection] = IGNORED
                truth_index[detection] = ignored[best]

    return PageMatch(status.astype(str), truth_index, found, scores, ignore)


def average_precision(scores, is_true_positive, n_truth: int) -> float:
    """Return the area under the precision-recall curve, all-point interpolated (VOC 2010+).

    ``scores`` and ``is_true_positive`` describe the counted detections (true
    and false positives, not ignored ones) pooled over any number of pages.
    ``n_truth`` is the number of regular truth boxes. Precision at each recall
    level is replaced by the maximum precision at that or any higher recall,
    and AP sums precision times recall step. Returns NaN when ``n_truth`` is 0.
    Ties in score keep the given order.
    """
    if n_truth <= 0:
        return float("nan")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    hits = np.asarray(is_true_positive, dtype=bool).reshape(-1)
    if len(scores) != len(hits):
        raise ValueError(f"{len(scores)} scores but {len(hits)} true-positive flags")
    if not len(scores):
        return 0.0

    order = np.argsort(-scores, kind="stable")
    hits = hits[order]
    cumulative_tp = np.cumsum(hits)
    cumulative_fp = np.cumsum(~hits)
    recall = cumulative_tp / n_truth
    precision = cumulative_tp / (cumulative_tp + cumulative_fp)

    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


@dataclass(frozen=True)
class PageScore:
    """Counts and scores of one page, or of all pages together.

    ``recall`` is NaN without regular truth boxes, ``precision`` NaN without
    counted detections, ``ap`` NaN without regular truth boxes.
    """

    name: str
    n_truth: int
    n_detections: int
    true_positives: int
    false_positives: int
    false_negatives: int
    ignored: int
    recall: float
    precision: float
    f1: float
    ap: float


def _score(name: str, matches: Sequence[PageMatch]) -> PageScore:
    tp = sum(m.true_positives for m in matches)
    fp = sum(m.false_positives for m in matches)
    n_truth = sum(m.n_truth for m in matches)
    ignored = sum(m.ignored for m in matches)
    recall = tp / n_truth if n_truth else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    if tp == 0:
        f1 = 0.0 if n_truth or fp else float("nan")
    else:
        f1 = 2 * precision * recall / (precision + recall)

    # AP ranks the counted detections (true and false positives) of all pages by score.
    scores = np.concatenate([np.zeros(0)] + [m.scores[m.status != IGNORED] for m in matches])
    hits = np.concatenate([np.zeros(0, dtype=bool)] + [m.status[m.status != IGNORED] == TRUE_POSITIVE for m in matches])
    ap = average_precision(scores, hits, n_truth)
    return PageScore(name, n_truth, tp + fp, tp, fp, n_truth - tp, ignored, recall, precision, f1, ap)


@dataclass(frozen=True, eq=False)
class DetectionReport:
    """Scores of detections on a set of annotated pages.

    Attributes
    ----------
    pages : list of PageScore
        One per page, in the order of the truth mapping.
    overall : PageScore
        All pages pooled (``name`` is ``"all"``); AP ranks detections of all
        pages together by score.
    matches : dict of str to PageMatch
        The matching per page, for drawing misses and false boxes.
    """

    pages: list[PageScore]
    overall: PageScore
    matches: dict[str, PageMatch]


def evaluate_detections(
    detections: Mapping[str, Detections],
    truth: Mapping[str, PageTruth],
    iou_threshold: float = 0.5,
) -> DetectionReport:
    """Score detections against truth, per page and over all pages.

    Parameters
    ----------
    detections : mapping of page name to Detections
        Must hold every page of ``truth``; extra pages are ignored.
    truth : mapping of page name to PageTruth
        As returned by :func:`comicfaces.annotations.load_face_annotations`.
    iou_threshold : float
        Minimum IoU for a match.

    Raises
    ------
    ValueError
        If a page of ``truth`` has no entry in ``detections``; pass
        ``Detections.empty()`` for a page where nothing was found.
    """
    missing = [name for name in truth if name not in detections]
    if missing:
        raise ValueError(
            f"detections missing for {len(missing)} annotated page(s), e.g. {missing[:3]}: "
            "pass Detections.empty() for pages with no detection"
        )

    matches: dict[str, PageMatch] = {}
    pages: list[PageScore] = []
    for name, page in truth.items():
        found = detections[name]
        match = match_detections(found.boxes, found.scores, page.boxes, page.ignore, iou_threshold)
        matches[name] = match
        pages.append(_score(name, [match]))
    return DetectionReport(pages, _score("all", list(matches.values())), matches)


def detection_identities(
    detections: Detections, page: PageTruth, iou_threshold: float = 0.5, unique_extras: bool = True
) -> list[str | None]:
    """Give each detection the identity of the regular truth box it matches.

    Detections that are false positives or lie on ignored boxes get None, so
    clustering scores on real detections count only matched faces. With
    ``unique_extras`` every ``extra`` face gets its own label (see
    :meth:`comicfaces.annotations.PageTruth.cluster_labels`).
    """
    match = match_detections(detections.boxes, detections.scores, page.boxes, page.ignore, iou_threshold)
    labels = page.cluster_labels() if unique_extras else list(page.identities)
    return [
        labels[index] if status == TRUE_POSITIVE else None
        for status, index in zip(match.status, match.truth_index)
    ]
