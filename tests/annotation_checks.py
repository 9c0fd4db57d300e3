"""Tests shared by the checks of the face ground truth in annotations/.

A test module declares its files as a list ``FILES`` of :class:`AnnotationFile`
values and star-imports this module. pytest then collects the ``test_*``
functions below in that module, and :func:`pytest_generate_tests` runs each of
them once per declared file::

    from annotation_checks import *  # noqa: F403
    from annotation_checks import AnnotationFile

    FILES = [AnnotationFile("faces_ep09.json", "peppercarrot", pages={...}, ignored={...})]

Tests that read the pages take the ``shared_data`` fixture of conftest.py, so
they skip where the shared data folder is absent. The format test reads only
the JSON file in annotations/.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from comicfaces.annotations import load_face_annotations

__all__ = [
    "pytest_generate_tests",
    "test_box_and_ignore_counts_per_page",
    "test_boxes_inside_images",
    "test_identity_counts_per_page",
    "test_ignored_identity_counts",
    "test_image_files_exist_with_stated_size",
    "test_pages_listed_in_order",
    "test_record_fields_match_format",
]

ANNOTATIONS = Path(__file__).resolve().parent.parent / "annotations"

IMAGE_FIELDS = {"id", "file_name", "width", "height"}
ANNOTATION_FIELDS = {"id", "image_id", "bbox", "area", "iscrowd", "category_id", "identity", "ignore"}


@dataclass(frozen=True)
class AnnotationFile:
    """Expected content of one COCO file of annotations/.

    Parameters
    ----------
    name : str
        File name inside annotations/.
    subfolder : str
        Folder of the shared data that ``file_name`` values are relative to
        ("" for the data folder itself).
    pages : dict
        For each page in file order: (all boxes, boxes with ``ignore: true``,
        number of boxes of each identity, ignored boxes included).
    ignored : dict
        Number of ignored boxes of each identity over the whole file.
    """

    name: str
    subfolder: str
    pages: dict[str, tuple[int, int, dict[str, int]]]
    ignored: dict[str, int] = field(default_factory=dict)

    def load(self, shared_data: Path) -> dict:
        """Read the file with ``file_name`` resolved against its data subfolder."""
        return load_face_annotations(ANNOTATIONS / self.name, root=shared_data / self.subfolder)


def pytest_generate_tests(metafunc):
    """Run each test that takes ``annotation_file`` once per entry of the module's ``FILES``."""
    if "annotation_file" in metafunc.fixturenames:
        files = metafunc.module.FILES
        metafunc.parametrize("annotation_file", files, ids=[spec.name for spec in files])


def test_pages_listed_in_order(annotation_file, shared_data):
    truth = annotation_file.load(shared_data)
    assert list(truth) == list(annotation_file.pages)


def test_box_and_ignore_counts_per_page(annotation_file, shared_data):
    truth = annotation_file.load(shared_data)
    for file_name, (n_boxes, n_ignored, _) in annotation_file.pages.items():
        page = truth[file_name]
        assert len(page.boxes) == n_boxes, file_name
        assert int(page.ignore.sum()) == n_ignored, file_name


def test_identity_counts_per_page(annotation_file, shared_data):
    truth = annotation_file.load(shared_data)
    for file_name, (_, _, identities) in annotation_file.pages.items():
        assert dict(Counter(truth[file_name].identities)) == identities, file_name


def test_ignored_identity_counts(annotation_file, shared_data):
    truth = annotation_file.load(shared_data)
    counts = Counter(
        identity for page in truth.values() for identity, flag in zip(page.identities, page.ignore) if flag
    )
    assert dict(counts) == annotation_file.ignored


def test_boxes_inside_images(annotation_file, shared_data):
    truth = annotation_file.load(shared_data)
    for file_name, page in truth.items():
        boxes = page.boxes
        assert (boxes[:, 0] >= 0).all(), file_name
        assert (boxes[:, 1] >= 0).all(), file_name
        assert (boxes[:, 2] <= page.width).all(), file_name
        assert (boxes[:, 3] <= page.height).all(), file_name
        assert (boxes[:, 2] > boxes[:, 0]).all(), file_name
        assert (boxes[:, 3] > boxes[:, 1]).all(), file_name


def test_image_files_exist_with_stated_size(annotation_file, shared_data):
    from PIL import Image

    truth = annotation_file.load(shared_data)
    for file_name, page in truth.items():
        assert page.path.is_file(), page.path
        with Image.open(page.path) as image:
            assert image.size == (page.width, page.height), file_name


def test_record_fields_match_format(annotation_file):
    data = json.loads((ANNOTATIONS / annotation_file.name).read_text(encoding="utf-8"))
    assert set(data) == {"info", "images", "annotations", "categories"}
    for image in data["images"]:
        assert set(image) == IMAGE_FIELDS, image
    for record in data["annotations"]:
        assert set(record) - {"note"} == ANNOTATION_FIELDS, record
        x, y, w, h = record["bbox"]
        assert record["area"] == w * h, record
    assert [record["id"] for record in data["annotations"]] == list(range(1, len(data["annotations"]) + 1))
