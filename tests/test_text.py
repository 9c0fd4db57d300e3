"""Tests for comicfaces.text: balloon growing on drawn pages, and the real rapidocr detector on real pages."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from comicfaces.boxes import coverage, iou_matrix
from comicfaces.imageio import load_image
from comicfaces.text import (
    TextConfig,
    TextResult,
    balloons_found,
    blank_text,
    detect_text,
    find_balloons,
    get_text_engine,
    line_heights,
)


def read_labels(path: Path) -> dict[str, np.ndarray]:
    """Read a Pepper&Carrot ``*.text.json`` file into ``{"balloon": (n, 4), "text": (m, 4)}``."""
    labels: dict[str, list] = {"balloon": [], "text": []}
    for entry in json.loads(path.read_text()):
        labels.setdefault(entry["kind"], []).append([entry["x0"], entry["y0"], entry["x1"], entry["y1"]])
    return {kind: np.asarray(boxes, dtype=np.int64).reshape(-1, 4) for kind, boxes in labels.items()}


def noisy_page(rng: np.random.Generator, size=(600, 800)) -> np.ndarray:
    """Return a page of coloured blobs: art with no plain background anywhere."""
    page = rng.integers(40, 200, (size[0] // 20, size[1] // 20, 3)).astype(np.uint8)
    page = cv2.resize(page, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    noise = rng.integers(-30, 30, page.shape)
    return np.clip(page.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def draw_balloon(page: np.ndarray, center, axes, fill=(255, 255, 255)) -> np.ndarray:
    """Draw a filled ellipse with a black outline; return its box."""
    cv2.ellipse(page, center, axes, 0, 0, 360, fill, -1)
    cv2.ellipse(page, center, axes, 0, 0, 360, (0, 0, 0), 2)
    return np.array([center[0] - axes[0] - 1, center[1] - axes[1] - 1, center[0] + axes[0] + 2, center[1] + axes[1] + 2])


def draw_line(page: np.ndarray, text: str, origin, scale: float = 0.8) -> np.ndarray:
    """Draw black text; return a box around it like a detector's (a few pixels of margin)."""
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(page, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2)
    x, y = origin
    return np.array([x - 3, y - height - 3, x + width + 3, y + baseline + 3])


# Configuration

BAD_VALUES = [
    ("enabled", "yes"),
    ("box_thresh", 0.0),
    ("unclip_ratio", 0.0),
    ("max_side", 10),
    ("min_text_side", -1),
    ("grow_to_balloon", 1),
    ("color_tolerance", 0),
    ("min_plain_fraction", 0.0),
    ("search_margin", 0.0),
    ("max_leak_fraction", 1.5),
    ("max_area_ratio", 0.5),
    ("padding", -0.1),
    ("fill", "blur"),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[field for field, _ in BAD_VALUES])
def test_config_rejects_bad_value(field, value):
    config = replace(TextConfig(), **{field: value})
    with pytest.raises(ValueError, match=field):
        config.validate()


def test_config_rejects_nan():
    with pytest.raises(ValueError, match="box_thresh"):
        replace(TextConfig(), box_thresh=float("nan")).validate()


def test_config_defaults_valid():
    assert TextConfig().validate() == TextConfig()


def test_detect_validates_config():
    with pytest.raises(ValueError, match="padding"):
        detect_text(np.zeros((64, 64, 3), np.uint8), replace(TextConfig(), padding=9.0))


# Balloon growing on drawn pages (no detector)


def test_balloon_box_matches_ellipse(rng):
    page = noisy_page(rng)
    balloon = draw_balloon(page, (300, 200), (150, 70))
    line = draw_line(page, "HELLO THERE", (200, 210))
    result = find_balloons(page, line[None])
    assert result.boxes.shape == (1, 4)
    assert result.grown[0]
    assert iou_matrix(result.boxes, balloon[None])[0, 0] >= 0.85


def test_balloon_color_is_fill(rng):
    page = noisy_page(rng)
    draw_balloon(page, (300, 200), (150, 70), fill=(250, 240, 200))
    line = draw_line(page, "HELLO THERE", (200, 210))
    result = find_balloons(page, line[None])
    assert np.abs(result.colors[0].astype(int) - (250, 240, 200)).max() <= 6


def test_lines_of_one_balloon_merge(rng):
    page = noisy_page(rng)
    draw_balloon(page, (300, 220), (170, 100))
    lines = np.stack([draw_line(page, "FIRST LINE", (210, 195)), draw_line(page, "SECOND LINE", (205, 255))])
    result = find_balloons(page, lines)
    assert len(result.boxes) == 1
    np.testing.assert_array_equal(result.text_to_balloon, [0, 0])


def test_separate_balloons_stay_apart(rng):
    page = noisy_page(rng)
    first = draw_balloon(page, (200, 150), (130, 60))
    second = draw_balloon(page, (560, 400), (130, 60))
    lines = np.stack([draw_line(page, "LEFT ONE", (130, 160)), draw_line(page, "RIGHT ONE", (480, 410))])
    result = find_balloons(page, lines)
    assert len(result.boxes) == 2
    assert result.text_to_balloon[0] != result.text_to_balloon[1]
    truth = np.stack([first, second])
    assert iou_matrix(result.boxes[result.text_to_balloon], truth).diagonal().min() >= 0.85


def test_touching_balloons_of_two_colours_stay_apart(rng):
    page = noisy_page(rng)
    draw_balloon(page, (300, 150), (140, 55), fill=(255, 255, 255))
    draw_balloon(page, (330, 255), (140, 55), fill=(250, 200, 120))
    lines = np.stack([draw_line(page, "WHITE ONE", (220, 160)), draw_line(page, "ORANGE ONE", (240, 265))])
    result = find_balloons(page, lines)
    assert len(result.boxes) == 2


def test_text_on_art_keeps_padded_box(rng):
    page = noisy_page(rng)
    line = draw_line(page, "KRAK", (300, 300), scale=1.2)
    result = find_balloons(page, line[None])
    assert not result.grown[0]
    height = line[3] - line[1]
    margin = int(np.ceil(TextConfig().padding * height))
    np.testing.assert_array_equal(result.boxes[0], line + np.array([-margin, -margin, margin, margin]))


def test_balloon_on_white_margin_not_leaking():
    # A white balloon overlapping the white page margin: the box must not run along the margin.
    page = np.full((800, 600, 3), 255, np.uint8)
    page[40:760, 40:560] = noisy_page(np.random.default_rng(5), (720, 520))
    cv2.ellipse(page, (250, 60), (130, 50), 0, 0, 360, (255, 255, 255), -1)
    line = draw_line(page, "UP HERE", (180, 70))
    result = find_balloons(page, line[None])
    width = result.boxes[0, 2] - result.boxes[0, 0]
    assert width <= 1.2 * 262
    assert result.boxes[0, 0] >= 100


def test_thought_bubbles_join_balloon(rng):
    page = noisy_page(rng)
    balloon = draw_balloon(page, (300, 200), (140, 50))
    for center, radius in (((300, 275), 12), ((320, 305), 8)):
        cv2.circle(page, center, radius, (255, 255, 255), -1)
        cv2.circle(page, center, radius, (0, 0, 0), 2)
    line = draw_line(page, "HMM, I WONDER", (195, 210))
    result = find_balloons(page, line[None])
    assert result.grown[0]
    assert result.boxes[0, 1] <= balloon[1] + 3
    assert result.boxes[0, 3] >= 312


def test_no_text_boxes_empty():
    result = find_balloons(np.zeros((50, 50, 3), np.uint8), np.zeros((0, 4)))
    assert result.boxes.shape == (0, 4)
    assert result.text_to_balloon.shape == (0,)


def test_line_heights_use_quad():
    # A line rotated by 45 degrees: its box is 100 px tall, the line 20 px.
    quad = np.array([[[0, 70], [70, 0], [84, 14], [14, 84]]], np.float64)
    heights = line_heights(np.array([[0, 0, 85, 85]]), quad)
    assert 19 <= heights[0] <= 21


# Coverage rule


def test_found_by_iou():
    assert balloons_found([[0, 0, 100, 100]], [[10, 0, 110, 100]]).tolist() == [True]


def test_found_by_union_cover():
    predicted = [[0, 0, 50, 100], [50, 0, 80, 100]]
    assert balloons_found(predicted, [[0, 0, 150, 100]]).tolist() == [True]


def test_not_found_when_barely_covered():
    assert balloons_found([[0, 0, 40, 100]], [[0, 0, 100, 100]]).tolist() == [False]


def test_found_with_no_predictions():
    assert balloons_found(np.zeros((0, 4)), [[0, 0, 10, 10]]).tolist() == [False]


# The real detector


def test_engine_uses_packaged_model():
    import rapidocr

    engine = get_text_engine()
    model_path = Path(str(engine.cfg.Det.model_path)).resolve()
    assert model_path.is_file()
    assert Path(rapidocr.__file__).resolve().parent in model_path.parents


def test_engine_loaded_once():
    assert get_text_engine() is get_text_engine()


def test_engine_loads_without_network(monkeypatch):
    def reject_connection(*args, **kwargs):
        raise OSError("network access attempted while loading the text detector")

    monkeypatch.setattr(socket.socket, "connect", reject_connection)
    monkeypatch.setattr(socket, "create_connection", reject_connection)
    get_text_engine.cache_clear()
    try:
        page = np.full((200, 400, 3), 255, np.uint8)
        draw_line(page, "NO NETWORK", (60, 110), scale=1.2)
        result = detect_text(page)
    finally:
        get_text_engine.cache_clear()
    assert len(result.text_boxes) >= 1


def test_engine_loads_no_recognizer():
    engine = get_text_engine()
    detect_text(np.full((100, 300, 3), 255, np.uint8))
    assert engine.text_rec is None
    assert engine.text_cls is None


def test_detect_drawn_balloon(rng):
    page = noisy_page(rng)
    balloon = draw_balloon(page, (400, 300), (200, 90))
    draw_line(page, "WHERE ARE YOU", (260, 290), scale=1.0)
    draw_line(page, "GOING NOW", (300, 335), scale=1.0)
    result = detect_text(page)
    assert len(result.text_boxes) >= 1
    assert coverage(result.text_boxes, balloon[None]).min() >= 0.9
    assert len(result.balloon_boxes) == 1
    assert result.balloon_grown[0]
    assert iou_matrix(result.balloon_boxes, balloon[None])[0, 0] >= 0.8


def test_detect_blank_page_empty():
    result = detect_text(np.full((400, 300, 3), 255, np.uint8))
    assert result.text_boxes.shape == (0, 4)
    assert result.balloon_boxes.shape == (0, 4)
    assert result.image_size == (400, 300)


def test_detect_tiny_image_empty():
    result = detect_text(np.full((8, 8, 3), 255, np.uint8))
    assert result.text_boxes.shape == (0, 4)


def test_detect_disabled_empty():
    page = np.full((200, 400, 3), 255, np.uint8)
    draw_line(page, "HIDDEN", (60, 110), scale=1.2)
    result = detect_text(page, replace(TextConfig(), enabled=False))
    assert result.text_boxes.shape == (0, 4)


def test_detect_rejects_float_image():
    with pytest.raises(ValueError, match="RGB uint8"):
        detect_text(np.zeros((100, 100, 3), np.float32))


@pytest.fixture(scope="module")
def lettered_page(shared_data):
    """A Pepper&Carrot page with 13 balloons, and its detection result."""
    image = load_image(shared_data / "peppercarrot" / "ep06" / "en" / "E06P06.jpg")
    return image, detect_text(image)


def test_result_arrays_consistent(lettered_page):
    image, result = lettered_page
    n, m = len(result.text_boxes), len(result.balloon_boxes)
    assert result.text_boxes.dtype == np.int64
    assert result.text_scores.shape == (n,)
    assert result.text_quads.shape == (n, 4, 2)
    assert result.balloon_colors.shape == (m, 3)
    assert result.balloon_grown.shape == (m,)
    assert result.text_to_balloon.shape == (n,)
    assert set(result.text_to_balloon.tolist()) == set(range(m))
    assert ((result.text_scores >= TextConfig().box_thresh) & (result.text_scores <= 1)).all()


def test_result_boxes_inside_page(lettered_page):
    image, result = lettered_page
    height, width = image.shape[:2]
    for boxes in (result.text_boxes, result.balloon_boxes):
        assert (boxes[:, :2] >= 0).all()
        assert (boxes[:, 2] <= width).all()
        assert (boxes[:, 3] <= height).all()


def test_text_inside_its_balloon(lettered_page):
    _, result = lettered_page
    own = coverage(result.text_boxes, result.balloon_boxes)[np.arange(len(result.text_boxes)), result.text_to_balloon]
    assert own.min() >= 0.95


def test_episode_balloon_recall(shared_data):
    # Episode 6 has the most labelled balloons (91 of 269). The whole set is
    # measured by benchmarks/text.py.
    found = total = 0
    for page in sorted((shared_data / "peppercarrot" / "ep06" / "en").glob("*.jpg")):
        truth = read_labels(page.with_suffix(".text.json"))["balloon"]
        if len(truth) == 0:
            continue
        result = detect_text(load_image(page))
        hits = balloons_found(result.balloon_boxes, truth)
        found += int(hits.sum())
        total += len(hits)
    assert total == 91
    assert found / total >= 0.9, f"{found}/{total} balloons found"


@pytest.mark.parametrize("name", ["ep06/{}/E06P06.jpg", "ep11/{}/E11P03.jpg"])
def test_clean_page_few_text_boxes(shared_data, name):
    clean = detect_text(load_image(shared_data / "peppercarrot" / name.format("clean")))
    lettered = detect_text(load_image(shared_data / "peppercarrot" / name.format("en")))
    assert len(lettered.text_boxes) >= 10
    assert len(clean.text_boxes) <= 2


def test_blanking_removes_text(lettered_page):
    image, result = lettered_page
    cleaned = blank_text(image, result)
    again = detect_text(cleaned)
    assert len(again.text_boxes) <= 0.2 * len(result.text_boxes)


def test_blanking_leaves_art_alone(lettered_page):
    image, result = lettered_page
    cleaned = blank_text(image, result)
    heights = line_heights(result.text_boxes, result.text_quads)
    margin = np.ceil(TextConfig().padding * heights)[:, None] * np.array([-1, -1, 1, 1]) + np.array([-2, -2, 2, 2])
    allowed = np.zeros(image.shape[:2], bool)
    for x0, y0, x1, y1 in (result.text_boxes + margin).astype(int):
        allowed[max(y0, 0) : y1, max(x0, 0) : x1] = True
    changed = np.abs(cleaned.astype(int) - image.astype(int)).max(axis=2) > 0
    assert changed.any()
    assert not (changed & ~allowed).any()


def test_blanking_keeps_balloon_outline(rng):
    page = noisy_page(rng)
    draw_balloon(page, (300, 200), (150, 60))
    line = draw_line(page, "TIGHT FIT", (190, 212), scale=1.1)
    x0, y0, x1, y1 = line
    result = find_balloons(page, line[None])
    text = TextResult(
        text_boxes=line[None],
        text_scores=np.ones(1),
        text_quads=np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float64),
        balloon_boxes=result.boxes,
        balloon_colors=result.colors,
        balloon_grown=result.grown,
        text_to_balloon=result.text_to_balloon,
        image_size=page.shape[:2],
    )
    cleaned = blank_text(page, text)

    outline = np.zeros(page.shape[:2], np.uint8)
    cv2.ellipse(outline, (300, 200), (150, 60), 0, 0, 360, 1, 2)
    np.testing.assert_array_equal(cleaned[outline > 0], page[outline > 0])
    assert (cleaned[y0:y1, x0:x1].min(axis=2) >= 240).mean() >= 0.98


def test_blanking_white_fill(lettered_page):
    image, result = lettered_page
    cleaned = blank_text(image, result, replace(TextConfig(), fill="white"))
    x0, y0, x1, y1 = result.text_boxes[0]
    assert (cleaned[y0:y1, x0:x1] == 255).all()


def test_blanking_rejects_other_page(lettered_page):
    image, result = lettered_page
    with pytest.raises(ValueError, match="run detect_text"):
        blank_text(image[:100], result)


def test_blanking_disabled_copy(lettered_page):
    image, result = lettered_page
    cleaned = blank_text(image, result, replace(TextConfig(), enabled=False))
    np.testing.assert_array_equal(cleaned, image)
    assert cleaned is not image


@pytest.mark.parametrize(
    ("name", "minimum"),
    [("black_terror_p1.jpg", 30), ("golden_p3.jpg", 25), ("judy_of_the_jungle_p1.jpg", 80)],
)
def test_golden_age_text_found(shared_data, name, minimum):
    result = detect_text(load_image(shared_data / "golden_age" / name))
    assert len(result.text_boxes) >= minimum


def test_golden_age_balloons_grown(shared_data):
    # golden_p3 letters every line in an outlined paper balloon or caption.
    result = detect_text(load_image(shared_data / "golden_age" / "golden_p3.jpg"))
    assert result.balloon_grown.mean() >= 0.7
