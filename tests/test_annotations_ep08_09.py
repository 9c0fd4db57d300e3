"""Checks of the episode 08 face ground truth: pages, box and ignore counts, identities, boxes inside images."""

from __future__ import annotations

from pathlib import Path

from comicfaces.annotations import load_face_annotations

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"

# Per page: (all boxes, boxes with ignore: true, identities present).
EXPECTED_EP08 = {
    "ep08/en/E08P01.jpg": (9, 4, {"Pepper", "Carrot", "extra"}),
    "ep08/en/E08P02.jpg": (8, 1, {"Pepper", "Carrot", "Coriander", "Shichimi", "Yuzu", "Saffron"}),
    "ep08/en/E08P03.jpg": (4, 0, {"Pepper", "Carrot"}),
    "ep08/en/E08P04.jpg": (4, 0, {"Pepper", "Carrot"}),
    "ep08/en/E08P05.jpg": (4, 0, {"Pepper", "Carrot"}),
    "ep08/en/E08P06.jpg": (
        10,
        2,
        {"Pepper", "Carrot", "ep08_toad_monster", "ep08_four_eyed_monster", "ep08_purple_monster"},
    ),
}


def load_ep08(shared_data: Path) -> dict:
    return load_face_annotations(ANNOTATIONS / "faces_ep08.json", root=shared_data / "peppercarrot")


def test_pages_listed(shared_data):
    assert list(load_ep08(shared_data)) == list(EXPECTED_EP08)


def test_box_and_ignore_counts_per_page(shared_data):
    truth = load_ep08(shared_data)
    for file_name, (n_boxes, n_ignored, _) in EXPECTED_EP08.items():
        page = truth[file_name]
        assert len(page.boxes) == n_boxes, file_name
        assert int(page.ignore.sum()) == n_ignored, file_name


def test_identities_present(shared_data):
    truth = load_ep08(shared_data)
    for file_name, (_, _, identities) in EXPECTED_EP08.items():
        assert set(truth[file_name].identities) == identities, file_name


def test_boxes_inside_images(shared_data):
    for file_name, page in load_ep08(shared_data).items():
        boxes = page.boxes
        assert (boxes[:, :2] >= 0).all(), file_name
        assert (boxes[:, 2] <= page.width).all(), file_name
        assert (boxes[:, 3] <= page.height).all(), file_name
        assert (boxes[:, 2] > boxes[:, 0]).all(), file_name
        assert (boxes[:, 3] > boxes[:, 1]).all(), file_name


def test_image_files_exist_with_stated_size(shared_data):
    from PIL import Image

    for file_name, page in load_ep08(shared_data).items():
        path = shared_data / "peppercarrot" / file_name
        assert path.is_file(), file_name
        with Image.open(path) as image:
            assert image.size == (page.width, page.height), file_name
