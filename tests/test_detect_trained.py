"""Tests of the trainable CenterNet face detector: targets, augmentation, training, saving and loading."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from comicfaces.detect import Detections  # noqa: E402
from comicfaces.detect.train import (  # noqa: E402
    MODEL_CONFIG_NAME,
    MODEL_WEIGHTS_NAME,
    TrainingPage,
    augment_sample,
    load_trained_model,
    train_detector,
    training_pages,
)
from comicfaces.detect.trained import TrainedDetector  # noqa: E402
from comicfaces.nn.centernet import centernet_loss, decode_centernet, encode_targets  # noqa: E402

ANNOTATIONS = "peppercarrot/annotations/faces_ep01-06.json"
TRAIN_NAMES = ["ep01/en/E01P01.jpg", "ep01/en/E01P02.jpg"]

# Small enough to train in seconds on a busy 2-core CPU.
TRAINING = dict(
    epochs=6,
    batch_size=2,
    lr=3e-3,
    image_size=96,
    seed=0,
    max_side=384,
    crops_per_page=1,
    num_threads=2,
)


@pytest.fixture(scope="module")
def annotated_pages(shared_data):
    return training_pages(shared_data / ANNOTATIONS, names=TRAIN_NAMES)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, annotated_pages):
    out = tmp_path_factory.mktemp("trained") / "model"
    result = train_detector(annotated_pages, annotated_pages[:1], out, **TRAINING)
    return result


def test_encode_decode_round_trip():
    stride = 8
    boxes = np.array([[20.0, 30.0, 60.0, 90.0], [100.0, 8.0, 124.0, 28.0]])
    targets = encode_targets([boxes], [np.array([False, False])], (128, 128), stride)
    assert float(targets.heatmap.max()) == 1.0
    assert int(targets.box_mask.sum()) == 2

    # Perfect outputs: heatmap logits high exactly at the encoded peaks.
    logits = torch.where(targets.heatmap == 1.0, torch.tensor(8.0), torch.tensor(-8.0))
    size = torch.zeros(1, 2, 16, 16)
    offset = torch.zeros(1, 2, 16, 16)
    for slot in range(2):
        index = int(targets.indices[0, slot])
        size[0, :, index // 16, index % 16] = targets.log_size[0, slot]
        offset[0, :, index // 16, index % 16] = targets.offset[0, slot]
    ((decoded, scores),) = decode_centernet((logits, size, offset), stride, score_threshold=0.5, max_detections=10)
    order = np.argsort(decoded[:, 0])
    np.testing.assert_allclose(decoded[order], boxes, atol=1e-3)
    assert len(scores) == 2


def test_ignored_box_masks_heatmap_loss():
    boxes = np.array([[16.0, 16.0, 48.0, 48.0]])
    targets = encode_targets([boxes], [np.array([True])], (64, 64), 8)
    assert int(targets.box_mask.sum()) == 0
    assert float(targets.heatmap.max()) == 0.0
    assert float(targets.heatmap_mask[0, 0, 2:6, 2:6].max()) == 0.0
    assert float(targets.heatmap_mask[0, 0, 0, 0]) == 1.0

    # A confident detection on the ignored face costs nothing.
    logits = torch.full((1, 1, 8, 8), -8.0)
    logits[0, 0, 4, 4] = 8.0
    outputs = (logits, torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8, 8))
    masked_loss, _ = centernet_loss(outputs, targets)
    unmasked = encode_targets([boxes], [np.array([False])], (64, 64), 8)
    unmasked.heatmap.zero_()
    unmasked.box_mask.zero_()
    loss_without_mask, _ = centernet_loss(outputs, unmasked)
    assert float(masked_loss) < 1e-3
    assert float(loss_without_mask) > 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_augmented_boxes_follow_pixels(seed):
    # A white page with one black square; the crop's box must cover dark pixels only.
    page = np.full((400, 300, 3), 255, dtype=np.uint8)
    page[100:180, 60:140] = 0
    boxes = np.array([[60.0, 100.0, 140.0, 180.0]])
    rng = np.random.default_rng(seed)
    crop, crop_boxes, crop_ignore = augment_sample(page, boxes, np.array([False]), 128, 0.5, (0.8, 1.25), rng)
    assert crop.shape == (128, 128, 3)
    assert crop.dtype == np.uint8
    if len(crop_boxes) and not crop_ignore[0]:
        x0, y0, x1, y1 = np.round(crop_boxes[0]).astype(int)
        inside = crop[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2]
        # Colour jitter moves levels by at most about 60 grey levels.
        assert inside.size == 0 or inside.mean() < 80


def test_cut_face_becomes_ignored():
    # A 100 px face never fits in a 64 px crop at scale 1, so at most 41 % of
    # it is visible and it must always be masked, never learnt as cut.
    page = np.full((400, 400, 3), 255, dtype=np.uint8)
    boxes = np.array([[150.0, 150.0, 250.0, 250.0]])
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, crop_boxes, crop_ignore = augment_sample(page, boxes, np.array([False]), 64, 1.0, (1.0, 1.0), rng, jitter=False)
        assert np.all(crop_ignore)
        # Masked faces keep their full extent, so no part of them is a negative.
        for box in crop_boxes:
            assert box[2] - box[0] == pytest.approx(100.0)


def test_training_lowers_loss(trained):
    losses = [record["train_loss"] for record in trained.history]
    assert len(losses) == TRAINING["epochs"]
    assert all(math.isfinite(loss) for loss in losses)
    assert np.mean(losses[-2:]) < losses[0]
    assert all(math.isfinite(record["val_loss"]) for record in trained.history)


def test_model_files_written(trained):
    assert (trained.model_path / MODEL_WEIGHTS_NAME).is_file()
    document = json.loads((trained.model_path / MODEL_CONFIG_NAME).read_text())
    assert document["max_side"] == TRAINING["max_side"]
    assert document["architecture"]["output_stride"] == 8
    assert len(document["history"]) == TRAINING["epochs"]
    assert document["training"]["n_train_pages"] == 2


def test_reloaded_model_reproduces_validation_loss(trained, annotated_pages):
    # The last validation loss was computed on the in-memory network at the
    # end of training; the weights read back from disk must give the same.
    from comicfaces.detect.train import DetectorTrainingConfig, _sample_batch, _to_tensor

    model, _ = load_trained_model(trained.model_path)
    config = DetectorTrainingConfig(**TRAINING)
    pages = annotated_pages[:1]
    images = [page.load() for page in pages]
    crops, boxes, ignores = _sample_batch(pages, images, [0], config, np.random.default_rng(config.seed + 1), False)
    targets = encode_targets(boxes, ignores, (config.image_size, config.image_size), config.output_stride)
    with torch.no_grad():
        loss, _ = centernet_loss(model(_to_tensor(crops, torch.device("cpu"))), targets)
    assert float(loss) == pytest.approx(trained.history[-1]["val_loss"], rel=1e-4)


def test_copied_model_gives_same_boxes(trained, annotated_pages, tmp_path):
    page = annotated_pages[0].load()
    first = TrainedDetector(str(trained.model_path), score_threshold=0.05).detect(page)
    copy = tmp_path / "copy"
    shutil.copytree(trained.model_path, copy)
    second = TrainedDetector(str(copy / MODEL_WEIGHTS_NAME), score_threshold=0.05).detect(page)
    assert isinstance(first, Detections)
    assert len(first) > 0
    np.testing.assert_array_equal(first.boxes, second.boxes)
    np.testing.assert_array_equal(first.scores, second.scores)


def test_detections_inside_page(trained, annotated_pages):
    page = annotated_pages[1].load()
    for detector in (
        TrainedDetector(str(trained.model_path), score_threshold=0.05),
        TrainedDetector(str(trained.model_path), score_threshold=0.05, max_side=256, tile_size=128),
    ):
        found = detector.detect(page)
        assert np.all(found.boxes[:, :2] >= 0)
        assert np.all(found.boxes[:, 2] <= page.shape[1])
        assert np.all(found.boxes[:, 3] <= page.shape[0])
        assert np.all(found.scores >= 0.05)
        assert np.all(np.diff(found.scores) <= 0)


def test_higher_threshold_keeps_subset(trained, annotated_pages):
    page = annotated_pages[0].load()
    low = TrainedDetector(str(trained.model_path), score_threshold=0.05).detect(page)
    high = TrainedDetector(str(trained.model_path), score_threshold=0.2).detect(page)
    assert len(high) <= len(low)
    np.testing.assert_array_equal(high.scores, low.scores[low.scores >= 0.2])


def test_missing_model_unavailable(tmp_path):
    detector = TrainedDetector(str(tmp_path / "absent"))
    status = detector.check()
    assert not status.ok
    assert MODEL_WEIGHTS_NAME in status.reason
    with pytest.raises(RuntimeError, match="not found"):
        detector.detect(np.zeros((32, 32, 3), dtype=np.uint8))


def test_empty_model_path_unavailable():
    assert "train_detector" in TrainedDetector().check().reason


def test_foreign_json_unavailable(trained, tmp_path):
    copy = tmp_path / "foreign"
    shutil.copytree(trained.model_path, copy)
    (copy / MODEL_CONFIG_NAME).write_text(json.dumps({"format": "something-else"}))
    status = TrainedDetector(str(copy)).check()
    assert not status.ok
    assert "something-else" in status.reason


def test_mismatched_weights_named(trained, tmp_path):
    copy = tmp_path / "mismatch"
    shutil.copytree(trained.model_path, copy)
    state = torch.load(copy / MODEL_WEIGHTS_NAME, weights_only=True)
    state["extra.weight"] = state.pop("heatmap.weight")
    torch.save(state, copy / MODEL_WEIGHTS_NAME)
    with pytest.raises(ValueError, match="missing keys.*heatmap.weight.*unexpected keys.*extra.weight"):
        load_trained_model(copy)


def test_page_truth_and_training_page_accepted(shared_data):
    from comicfaces.annotations import load_face_annotations

    truth = load_face_annotations(shared_data / ANNOTATIONS)
    page = truth[TRAIN_NAMES[0]]
    converted = TrainingPage.from_truth(page)
    np.testing.assert_array_equal(converted.boxes, page.boxes)
    np.testing.assert_array_equal(converted.ignore, page.ignore)


# One invalid value per training parameter; validation runs before any image is read.
_PAGE = TrainingPage(np.full((64, 64, 3), 255, dtype=np.uint8), np.array([[8, 8, 24, 24]]), None, "white")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", 0),
        ("lr", 0.0),
        ("image_size", 100),
        ("seed", 1.5),
        ("max_side", 64),
        ("scale_range", (2.0, 1.0)),
        ("crops_per_page", 0),
        ("output_stride", 16),
        ("neck_channels", 4),
        ("head_channels", 1024),
        ("frozen_blocks", 17),
        ("weight_decay", -0.1),
        ("pretrained", "yes"),
        ("device", "gpu"),
        ("num_threads", 0),
    ],
)
def test_invalid_training_parameter_rejected(field, value, tmp_path):
    with pytest.raises(ValueError, match=field):
        train_detector([_PAGE], out_dir=tmp_path, **{field: value})


def test_init_from_missing_model_rejected(tmp_path):
    with pytest.raises(ValueError, match="init_from.*not found"):
        train_detector([_PAGE], out_dir=tmp_path / "out", init_from=str(tmp_path / "nothing"))


def test_init_from_other_architecture_rejected(trained, tmp_path):
    with pytest.raises(ValueError, match="init_from.*neck_channels"):
        train_detector([_PAGE], out_dir=tmp_path / "out", init_from=str(trained.model_path), neck_channels=32)


def test_fine_tuning_starts_from_saved_model(trained, annotated_pages, tmp_path):
    # One epoch at a tiny learning rate barely moves the weights, so the
    # fine-tuned parameters stay those of the saved model, not a new model's.
    options = {**TRAINING, "epochs": 1, "lr": 1e-7}
    tuned = train_detector(annotated_pages, (), tmp_path / "tuned", init_from=str(trained.model_path), **options)
    fresh = train_detector(annotated_pages, (), tmp_path / "fresh", **options)
    start, _ = load_trained_model(trained.model_path)
    after, _ = load_trained_model(tuned.model_path)
    new, _ = load_trained_model(fresh.model_path)
    start_params, after_params, new_params = (dict(m.named_parameters()) for m in (start, after, new))
    head = [name for name in start_params if not name.startswith("backbone.")]
    assert head
    for name in head:
        assert torch.allclose(after_params[name], start_params[name], atol=1e-4), name
    assert any(not torch.allclose(new_params[name], start_params[name], atol=1e-2) for name in head)
    saved = json.loads((tuned.model_path / MODEL_CONFIG_NAME).read_text(encoding="utf-8"))
    assert saved["training"]["init_from"] == str(trained.model_path)


def test_unknown_training_option_rejected(tmp_path):
    with pytest.raises(ValueError, match="learning_rate"):
        train_detector([_PAGE], out_dir=tmp_path, learning_rate=0.1)


def test_empty_training_pages_rejected(tmp_path):
    with pytest.raises(ValueError, match="train_pages"):
        train_detector([], out_dir=tmp_path)


def test_wrong_page_type_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"train_pages\[0\]"):
        train_detector(["page.png"], out_dir=tmp_path)


def test_boxes_and_flags_must_match():
    with pytest.raises(ValueError, match="ignore flags"):
        TrainingPage(np.zeros((8, 8, 3), dtype=np.uint8), np.array([[0, 0, 4, 4]]), np.array([True, False]))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_path", 3),
        ("score_threshold", 1.0),
        ("max_side", 100),
        ("tile_size", 200),
        ("nms_iou", 0.0),
        ("max_detections", 0),
        ("device", "tpu"),
    ],
)
def test_invalid_detector_parameter_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        TrainedDetector(**{field: value})


def test_model_files_listed(trained):
    files = TrainedDetector(str(trained.model_path)).model_files()
    assert [f.name for f in files] == [MODEL_WEIGHTS_NAME, MODEL_CONFIG_NAME]


def test_missing_model_lists_no_files(tmp_path):
    assert TrainedDetector(str(tmp_path / "absent")).model_files() == []
    assert TrainedDetector("").model_files() == []


def test_replaced_model_recomputes_faces(trained, tmp_path):
    # The same model_path with other weights must not reuse the cached faces.
    from comicfaces.cache import Workspace
    from comicfaces.config import PipelineConfig
    from comicfaces.demo import generate_demo
    from comicfaces.detect import FaceConfig
    from comicfaces.imageio import list_pages
    from comicfaces.pipeline import process_pages

    model = tmp_path / "model"
    shutil.copytree(trained.model_path, model)
    comic = generate_demo(tmp_path / "demo", n_pages=1, seed=0)
    pages = list_pages(comic.folder)
    faces = FaceConfig(detectors=("trained",), detector_params={"trained": {"model_path": str(model), "score_threshold": 0.05}})
    config = PipelineConfig(faces=faces)
    workspace = Workspace(tmp_path / "workspace")

    first = process_pages(workspace, pages, config)
    again = process_pages(workspace, pages, config)
    state = torch.load(model / MODEL_WEIGHTS_NAME, weights_only=True)
    state = {key: value + 0.01 if value.is_floating_point() else value for key, value in state.items()}
    torch.save(state, model / MODEL_WEIGHTS_NAME)
    replaced = process_pages(workspace, pages, config)

    assert first[0].error is None
    assert not first[0].cached["faces"]
    assert again[0].cached["faces"]
    assert not replaced[0].cached["faces"]
    assert replaced[0].cached["text"]


def test_bare_model_name_found_in_models_dir(trained, tmp_path):
    shutil.copytree(trained.model_path, tmp_path / "my-detector")
    detector = TrainedDetector("my-detector", models_dir=str(tmp_path))
    assert detector.check().ok
    assert detector.model_files()[0] == tmp_path / "my-detector" / MODEL_WEIGHTS_NAME


def test_bare_model_name_missing_names_folders(tmp_path):
    status = TrainedDetector("my-detector", models_dir=str(tmp_path)).check()
    assert not status.ok
    assert str(tmp_path) in status.reason
    assert "train-detector" in status.reason
