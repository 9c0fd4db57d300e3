"""COCO face annotations: the real Pepper&Carrot file and malformed files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from comicfaces.annotations import AnnotationError, load_face_annotations


@pytest.fixture(scope="module")
def real_truth(shared_data):
    return load_face_annotations(shared_data / "peppercarrot" / "annotations" / "faces_ep01-06.json")


def test_real_file_totals(real_truth):
    assert len(real_truth) == 35
    assert sum(len(p) for p in real_truth.values()) == 248
    assert sum(int(p.ignore.sum()) for p in real_truth.values()) == 38
    assert sum(p.n_regular for p in real_truth.values()) == 210


def test_real_file_pages(real_truth, shared_data):
    names = list(real_truth)
    assert names[0] == "ep01/en/E01P01.jpg"
    assert names[-1] == "ep06/en/E06P09.jpg"
    assert len(real_truth["ep04/clean/E04P05.jpg"]) == 0
    for truth in real_truth.values():
        assert truth.path.is_file(), truth.path
        assert truth.path == shared_data / "peppercarrot" / truth.file_name


def test_real_file_first_box(real_truth):
    first = real_truth["ep01/en/E01P01.jpg"]
    # COCO bbox [546, 228, 54, 55] becomes (x0, y0, x1, y1) with exclusive ends.
    assert first.boxes[0].tolist() == [546.0, 228.0, 600.0, 283.0]
    assert first.identities[0] == "Pepper"
    assert not first.ignore[0]


def test_real_file_identities(real_truth):
    identities = {i for p in real_truth.values() for i in p.identities}
    assert len(identities) == 16
    assert {"Pepper", "Carrot", "extra", "ep06_zombie_bird"} <= identities


def test_real_boxes_inside_images(real_truth):
    for truth in real_truth.values():
        if len(truth):
            assert (truth.boxes[:, :2] >= 0).all()
            assert (truth.boxes[:, 2] <= truth.width).all()
            assert (truth.boxes[:, 3] <= truth.height).all()


def test_cluster_labels_split_extras(real_truth):
    labels = real_truth["ep03/en/E03P01.jpg"].cluster_labels()
    extras = [label for label in labels if label.startswith("extra")]
    assert len(extras) == 15
    assert len(set(extras)) == 15
    assert "Pepper" in labels


VALID = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
    "annotations": [
        {"id": 1, "image_id": 1, "bbox": [10, 10, 20, 20], "category_id": 1, "identity": "A", "ignore": False}
    ],
    "categories": [{"id": 1, "name": "face"}],
}


def write(tmp_path, data, text=None):
    path = tmp_path / "annotations" / "faces.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text if text is not None else json.dumps(data))
    return path


def test_minimal_valid(tmp_path):
    pages = load_face_annotations(write(tmp_path, VALID))
    assert list(pages) == ["a.jpg"]
    assert pages["a.jpg"].path == tmp_path / "a.jpg"
    assert pages["a.jpg"].boxes.tolist() == [[10, 10, 30, 30]]


def test_iscrowd_read_as_ignore(tmp_path):
    data = json.loads(json.dumps(VALID))
    data["annotations"][0]["iscrowd"] = 1
    del data["annotations"][0]["ignore"]
    assert load_face_annotations(write(tmp_path, data))["a.jpg"].ignore.tolist() == [True]


def test_other_categories_skipped(tmp_path):
    data = json.loads(json.dumps(VALID))
    data["categories"].append({"id": 2, "name": "body"})
    data["annotations"].append({"id": 2, "image_id": 1, "bbox": [0, 0, 5, 5], "category_id": 2})
    assert len(load_face_annotations(write(tmp_path, data))["a.jpg"]) == 1


def test_missing_file(tmp_path):
    with pytest.raises(AnnotationError, match="not found"):
        load_face_annotations(tmp_path / "nothing.json")


def test_not_json(tmp_path):
    path = write(tmp_path, None, text='{"images": [')
    with pytest.raises(AnnotationError) as raised:
        load_face_annotations(path)
    assert str(path) in str(raised.value)
    assert "line 1" in str(raised.value)


def test_top_level_list(tmp_path):
    with pytest.raises(AnnotationError, match="top level"):
        load_face_annotations(write(tmp_path, []))


def broken(**changes):
    data = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        section, index, field = key.split("__")
        if value is None:
            del data[section][int(index)][field]
        else:
            data[section][int(index)][field] = value
    return data


MALFORMED = [
    ("bbox three values", broken(annotations__0__bbox=[1, 2, 3]), "bbox"),
    ("bbox text", broken(annotations__0__bbox=[1, 2, "3", 4]), "bbox"),
    ("bbox zero width", broken(annotations__0__bbox=[1, 2, 0, 4]), "positive"),
    ("bbox outside", broken(annotations__0__bbox=[90, 10, 20, 20]), "outside"),
    ("unknown image", broken(annotations__0__image_id=7), "image_id 7"),
    ("identity number", broken(annotations__0__identity=3), "identity"),
    ("ignore string", broken(annotations__0__ignore="yes"), "ignore"),
    ("annotation id missing", broken(annotations__0__id=None), "'id'"),
    ("image width zero", broken(images__0__width=0), "width"),
    ("file name missing", broken(images__0__file_name=None), "file_name"),
]


@pytest.mark.parametrize(("case", "data", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_record(tmp_path, case, data, expected):
    with pytest.raises(AnnotationError) as raised:
        load_face_annotations(write(tmp_path, data))
    message = str(raised.value)
    assert expected in message
    assert "faces.json" in message


def test_duplicate_annotation_id(tmp_path):
    data = json.loads(json.dumps(VALID))
    data["annotations"].append(dict(data["annotations"][0]))
    with pytest.raises(AnnotationError, match="appears twice"):
        load_face_annotations(write(tmp_path, data))


def test_no_face_category(tmp_path):
    data = json.loads(json.dumps(VALID))
    data["categories"] = [{"id": 1, "name": "person"}]
    with pytest.raises(AnnotationError, match="face"):
        load_face_annotations(write(tmp_path, data))


def test_empty_page_kept(tmp_path):
    data = json.loads(json.dumps(VALID))
    data["images"].append({"id": 2, "file_name": "b.jpg", "width": 50, "height": 50})
    pages = load_face_annotations(write(tmp_path, data))
    assert list(pages) == ["a.jpg", "b.jpg"]
    assert pages["b.jpg"].boxes.shape == (0, 4)
    assert np.asarray(pages["b.jpg"].ignore).shape == (0,)
