"""Checks of the face ground truth in annotations/: page and box counts, boxes inside images, files present."""

from __future__ import annotations

from pathlib import Path

import pytest

from comicfaces.annotations import load_face_annotations

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"

# Per file: the data subfolder that file_name values are relative to, and for
# each page the expected (all boxes, boxes with ignore: true).
EXPECTED = {
    "faces_golden_age.json": (
        "",
        {
            "golden_age/black_terror_p1.jpg": (9, 2),
            "golden_age/golden_p3.jpg": (12, 2),
            "golden_age/judy_of_the_jungle_p1.jpg": (4, 1),
        },
    ),
    "faces_ep07.json": (
        "peppercarrot",
        {
            "ep07/en/E07P01.jpg": (2, 0),
            "ep07/en/E07P02.jpg": (6, 0),
            "ep07/en/E07P03.jpg": (7, 1),
            "ep07/en/E07P04.jpg": (6, 1),
            "ep07/en/E07P05.jpg": (2, 0),
        },
    ),
}


def load(name: str, shared_data: Path) -> dict:
    subfolder, _ = EXPECTED[name]
    return load_face_annotations(ANNOTATIONS / name, root=shared_data / subfolder)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pages_listed(name, shared_data):
    truth = load(name, shared_data)
    assert list(truth) == list(EXPECTED[name][1])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_box_counts_per_page(name, shared_data):
    truth = load(name, shared_data)
    for file_name, (n_boxes, n_ignored) in EXPECTED[name][1].items():
        page = truth[file_name]
        assert len(page.boxes) == n_boxes, file_name
        assert int(page.ignore.sum()) == n_ignored, file_name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_box_has_identity(name, shared_data):
    truth = load(name, shared_data)
    for file_name, page in truth.items():
        assert all(identity for identity in page.identities), file_name


@pytest.mark.parametrize("name", sorted(EXPECTED))
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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_image_files_exist_with_stated_size(name, shared_data):
    from PIL import Image

    truth = load(name, shared_data)
    for file_name, page in truth.items():
        assert page.path.is_file(), page.path
        with Image.open(page.path) as image:
            assert image.size == (page.width, page.height), file_name
