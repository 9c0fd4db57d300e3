"""Detection scores on hand-made cases: matching, ignore rule, recall, precision, AP."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from comicfaces.annotations import PageTruth
from comicfaces.detect import Detections
from comicfaces.detect.evaluate import (
    average_precision,
    detection_identities,
    evaluate_detections,
    match_detections,
)


def page(boxes, identities, ignore=None, name="p.jpg"):
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    ignore = np.zeros(len(boxes), bool) if ignore is None else np.asarray(ignore, bool)
    return PageTruth(
        file_name=name,
        path=Path(name),
        image_id=1,
        width=1000,
        height=1000,
        boxes=boxes,
        identities=tuple(identities),
        ignore=ignore,
        annotation_ids=np.arange(1, len(boxes) + 1),
        notes=("",) * len(boxes),
    )


def dets(boxes, scores):
    return Detections.from_arrays(np.asarray(boxes, dtype=float).reshape(-1, 4), scores, "test")


TRUTH = [[0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100]]


def test_match_tp_fp_fn():
    detected = [[0, 0, 100, 100], [210, 10, 310, 110], [600, 600, 700, 700]]
    match = match_detections(detected, [0.9, 0.8, 0.7], TRUTH)
    assert match.status.tolist() == ["tp", "tp", "fp"]
    assert match.truth_index.tolist() == [0, 1, -1]
    assert match.missed.tolist() == [2]
    assert match.true_positives == 2
    assert match.false_positives == 1


def test_iou_below_threshold_is_fp():
    # IoU of [0,0,100,100] and [50,0,150,100] is 1/3.
    match = match_detections([[50, 0, 150, 100]], [0.9], [[0, 0, 100, 100]])
    assert match.status.tolist() == ["fp"]
    assert match.missed.tolist() == [0]


def test_duplicate_is_fp():
    detected = [[0, 0, 100, 100], [2, 2, 102, 102]]
    match = match_detections(detected, [0.5, 0.9], [[0, 0, 100, 100]])
    # The higher score is matched first; the other box is a duplicate.
    assert match.status.tolist() == ["fp", "tp"]


def test_ignored_box_neither_tp_nor_fp():
    truth = [[0, 0, 100, 100], [200, 0, 300, 100]]
    detected = [[0, 0, 100, 100], [205, 5, 305, 105]]
    match = match_detections(detected, [0.9, 0.8], truth, truth_ignore=[False, True])
    assert match.status.tolist() == ["tp", "ignored"]
    assert match.truth_index.tolist() == [0, 1]
    assert match.n_truth == 1
    assert match.missed.tolist() == []


def test_missed_ignored_box_not_fn():
    match = match_detections(np.zeros((0, 4)), [], TRUTH, truth_ignore=[True, True, False])
    assert match.missed.tolist() == [2]
    assert match.n_truth == 1


def test_ignore_by_detection_coverage():
    # A small box inside a large ignored region: IoU 0.04, but all of the
    # detection lies inside the ignored box, so it is ignored, not false.
    match = match_detections([[10, 10, 50, 50]], [0.9], [[0, 0, 200, 200]], truth_ignore=[True])
    assert match.status.tolist() == ["ignored"]


def test_several_detections_on_one_ignored_box():
    detected = [[0, 0, 100, 100], [3, 3, 103, 103]]
    match = match_detections(detected, [0.9, 0.8], [[0, 0, 100, 100]], truth_ignore=[True])
    assert match.status.tolist() == ["ignored", "ignored"]


def test_regular_box_takes_precedence_over_ignored():
    truth = [[0, 0, 100, 100], [0, 0, 100, 100]]
    match = match_detections([[0, 0, 100, 100]], [0.9], truth, truth_ignore=[True, False])
    assert match.status.tolist() == ["tp"]
    assert match.truth_index.tolist() == [1]


def test_ap_hand_worked():
    # 3 truth boxes. Detections by score: TP, FP, TP, FP.
    # Precision/recall points: (1, 1/3), (1/2, 1/3), (2/3, 2/3), (1/2, 2/3).
    # Interpolated precision: 1 on recall (0, 1/3], 2/3 on (1/3, 2/3], 0 after.
    # AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
    ap = average_precision([0.9, 0.8, 0.7, 0.6], [True, False, True, False], n_truth=3)
    assert ap == pytest.approx(5 / 9)


def test_ap_uses_score_order():
    # Same detections given in another order give the same AP.
    ap = average_precision([0.6, 0.7, 0.8, 0.9], [False, True, False, True], n_truth=3)
    assert ap == pytest.approx(5 / 9)


def test_ap_edge_cases():
    assert average_precision([0.9, 0.8], [True, True], n_truth=2) == pytest.approx(1.0)
    assert average_precision([], [], n_truth=2) == 0.0
    assert average_precision([0.9], [False], n_truth=2) == 0.0
    assert math.isnan(average_precision([0.9], [False], n_truth=0))


def test_ap_interpolation_raises_early_precision():
    # FP first, then 2 TP: precision 0, 1/2, 2/3. Interpolated precision is
    # 2/3 everywhere up to recall 1, so AP = 2/3.
    assert average_precision([0.9, 0.8, 0.7], [False, True, True], n_truth=2) == pytest.approx(2 / 3)


def test_evaluate_overall_and_per_page():
    truth = {
        "a.jpg": page(TRUTH, ["A", "B", "C"], name="a.jpg"),
        "b.jpg": page([[0, 0, 50, 50], [100, 100, 150, 150]], ["A", "x"], ignore=[False, True], name="b.jpg"),
        "c.jpg": page(np.zeros((0, 4)), [], name="c.jpg"),
    }
    detections = {
        "a.jpg": dets([[0, 0, 100, 100], [600, 600, 700, 700]], [0.9, 0.4]),
        "b.jpg": dets([[0, 0, 50, 50], [100, 100, 150, 150]], [0.8, 0.95]),
        "c.jpg": dets([[10, 10, 60, 60]], [0.5]),
    }
    report = evaluate_detections(detections, truth)
    overall = report.overall
    assert overall.n_truth == 4
    assert overall.true_positives == 2
    assert overall.false_positives == 2
    assert overall.false_negatives == 2
    assert overall.ignored == 1
    assert overall.n_detections == 4
    assert overall.recall == pytest.approx(0.5)
    assert overall.precision == pytest.approx(0.5)
    assert overall.f1 == pytest.approx(0.5)
    # Ranked: 0.9 TP, 0.8 TP, 0.5 FP, 0.4 FP (the ignored 0.95 is left out): AP = 2/4.
    assert overall.ap == pytest.approx(0.5)

    by_name = {score.name: score for score in report.pages}
    assert by_name["a.jpg"].recall == pytest.approx(1 / 3)
    assert by_name["a.jpg"].precision == pytest.approx(0.5)
    assert by_name["b.jpg"].ap == pytest.approx(1.0)
    assert math.isnan(by_name["c.jpg"].recall)
    assert by_name["c.jpg"].precision == 0.0


def test_evaluate_missing_page():
    truth = {"a.jpg": page(TRUTH, ["A", "B", "C"], name="a.jpg")}
    with pytest.raises(ValueError, match="a.jpg"):
        evaluate_detections({}, truth)


def test_detection_identities():
    truth = page(
        [[0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100], [600, 0, 700, 100]],
        ["Pepper", "extra", "Carrot", "extra"],
        ignore=[False, False, True, False],
    )
    detected = dets([[0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100], [800, 0, 900, 100], [600, 0, 700, 100]], [0.9] * 5)
    assert detection_identities(detected, truth) == ["Pepper", "extra#2", None, None, "extra#4"]
    assert detection_identities(detected, truth, unique_extras=False) == ["Pepper", "extra", None, None, "extra"]
