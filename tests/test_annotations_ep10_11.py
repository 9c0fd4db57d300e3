"""Checks of the Pepper&Carrot episode 10 and 11 face ground truth: pages, counts, identities, boxes, files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from comicfaces.annotations import load_face_annotations

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"

# Per file, for each page in order: (all boxes, boxes with ignore: true).
PAGES = {
    "faces_ep10.json": {
        "ep10/en/E10P01.jpg": (6, 0),
        "ep10/en/E10P02.jpg": (2, 0),
        "ep10/en/E10P03.jpg": (15, 9),
        "ep10/en/E10P04.jpg": (11, 1),
        "ep10/en/E10P05.jpg": (20, 3),
    },
    "faces_ep11.json": {
        "ep11/en/E11P01.jpg": (5, 0),
        "ep11/en/E11P02.jpg": (10, 0),
        "ep11/en/E11P03.jpg": (6, 0),
        "ep11/en/E11P04.jpg": (8, 1),
        "ep11/en/E11P05.jpg": (8, 1),
        "ep11/en/E11P06.jpg": (8, 1),
    },
}

# Per file: number of boxes of each identity, ignored boxes included.
IDENTITIES = {
    "faces_ep10.json": {"Pepper": 9, "Carrot": 10, "ep10_monster_fish": 4, "extra": 31},
    "faces_ep11.json": {
        "Pepper": 13,
        "Carrot": 9,
        "Cumin": 8,
        "Thyme": 5,
        "Cayenne": 3,
        "ep11_king": 4,
        "extra": 3,
    },
}

# Per file: number of ignored boxes of each identity.
IGNORED = {
    "faces_ep10.json": {"extra": 11, "Pepper": 1, "Carrot": 1},
    "faces_ep11.json": {"extra": 3},
}


def load(name: str, shared_data: Path) -> dict:
    return load_face_annotations(ANNOTATIONS / name, root=shared_data / "peppercarrot")


@pytest.mark.parametrize("name", sorted(PAGES))
def test_pages_listed_in_order(name, shared_data):
    truth = load(name, shared_data)
    assert list(truth) == list(PAGES[name])


@pytest.mark.parametrize("name", sorted(PAGES))
def test_box_and_ignore_counts_per_page(name, shared_data):
    truth = load(name, shared_data)
    for file_name, (n_boxes, n_ignored) in PAGES[name].items():
        page = truth[file_name]
        assert len(page.boxes) == n_boxes, file_name
        assert int(page.ignore.sum()) == n_ignored, file_name


@pytest.mark.parametrize("name", sorted(PAGES))
def test_identity_counts(name, shared_data):
    truth = load(name, shared_data)
    counts = Counter(identity for page in truth.values() for identity in page.identities)
    assert dict(counts) == IDENTITIES[name]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_ignored_identity_counts(name, shared_data):
    truth = load(name, shared_data)
    counts = Counter(
        identity for page in truth.values() for identity, flag in zip(page.identities, page.ignore) if flag
    )
    assert dict(counts) == IGNORED[name]


@pytest.mark.parametrize("name", sorted(PAGES))
def test_boxes_inside_images(name, shared_data):
    truth = load(name, shared_data)
    for file_name, page in truth.items():
        boxes = page.boxes
        assert (boxes[:, 0] >= 0).all(), file_name
        assert (boxes[:, 1] >= 0).all(), file_name
        assert (boxes[:, 2] <= page.width).all(), file_name
        assert (boxes[:, 3] <= page.height).all(), file_name
        assert (boxes[:, 2] > boxes[:, 0]).all(), file_name
        assert (boxes[:, 3] > boxes[:, 1]).all(), file_name


@pytest.mark.parametrize("name", sorted(PAGES))
def test_image_files_exist_with_stated_size(name, shared_data):
    from PIL import Image

    truth = load(name, shared_data)
    for file_name, page in truth.items():
        assert page.path.is_file(), page.path
        with Image.open(page.path) as image:
            assert image.size == (page.width, page.height), file_name


@pytest.mark.parametrize("name", sorted(PAGES))
def test_record_fields_match_format(name):
    import json

    data = json.loads((ANNOTATIONS / name).read_text())
    assert set(data) == {"info", "images", "annotations", "categories"}
    for image in data["images"]:
        assert set(image) == {"id", "file_name", "width", "height"}
    for record in data["annotations"]:
        assert set(record) - {"note"} == {"id", "image_id", "bbox", "area", "iscrowd", "category_id", "identity", "ignore"}
        x, y, w, h = record["bbox"]
        assert record["area"] == w * h
    assert [record["id"] for record in data["annotations"]] == list(range(1, len(data["annotations"]) + 1))
