"""Tests of the DASS detector with randomly initialised weights saved in the DASS key layout.

The real DASS weights are not available here, so these tests check the
network's shapes against the YOLOX width arithmetic, the checkpoint loading
rules, the YOLOX box decoding and the letterbox mapping back to page pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from comicfaces.detect import Detections  # noqa: E402
from comicfaces.detect.dass import DASSDetector, build_dass_network, load_dass_state_dict  # noqa: E402

INPUT_SIZE = 256


@pytest.fixture(scope="module")
def random_state():
    torch.manual_seed(0)
    return build_dass_network("xs").state_dict()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, random_state):
    path = tmp_path_factory.mktemp("dass") / "dass_xs_random.pth"
    torch.save({"model": random_state, "start_epoch": 3}, path)
    return path


@pytest.fixture(scope="module")
def page():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(180, 300, 3), dtype=np.uint8)


def test_xs_layout_follows_yolox_widths(random_state):
    # xs: width 0.375, so base channels int(64 * 0.375) = 24 and levels 96, 192, 384.
    expected = {
        "backbone.backbone.stem.conv.conv.weight": (24, 12, 3, 3),
        "backbone.backbone.dark2.0.conv.weight": (48, 24, 3, 3),
        "backbone.backbone.dark5.1.conv2.conv.weight": (384, 768, 1, 1),
        "backbone.backbone.dark5.2.m.0.conv2.conv.weight": (192, 192, 3, 3),
        "backbone.lateral_conv0.conv.weight": (192, 384, 1, 1),
        "backbone.C3_n4.conv3.conv.weight": (384, 384, 1, 1),
        "head_stem.stems.2.conv.weight": (96, 384, 1, 1),
        "face_head.reg_convs.0.1.conv.weight": (96, 96, 3, 3),
        "face_head.reg_preds.1.weight": (4, 96, 1, 1),
        "face_head.obj_preds.2.bias": (1,),
        "body_head.obj_preds.0.weight": (1, 96, 1, 1),
    }
    for key, shape in expected.items():
        assert key in random_state, key
        assert tuple(random_state[key].shape) == shape, key


def test_xs_depth_gives_one_bottleneck_per_block(random_state):
    # depth 0.33: round(0.33 * 3) = 1 bottleneck, 3 in dark3 and dark4.
    assert "backbone.backbone.dark2.1.m.0.conv1.conv.weight" in random_state
    assert "backbone.backbone.dark2.1.m.1.conv1.conv.weight" not in random_state
    assert "backbone.backbone.dark3.1.m.2.conv1.conv.weight" in random_state
    assert "backbone.backbone.dark3.1.m.3.conv1.conv.weight" not in random_state


def test_checkpoint_keys_accepted(tmp_path, random_state):
    for key in ("model", "teacher_model", None):
        path = tmp_path / f"{key}.pth"
        torch.save(random_state if key is None else {key: random_state}, path)
        state = load_dass_state_dict(path)
        assert set(state) == set(random_state)


def test_teacher_model_preferred(tmp_path, random_state):
    teacher = {key: value.clone() for key, value in random_state.items()}
    teacher["face_head.obj_preds.0.bias"] = torch.full((1,), 7.0)
    path = tmp_path / "stage2.pth"
    torch.save({"model": random_state, "teacher_model": teacher}, path)
    assert float(load_dass_state_dict(path)["face_head.obj_preds.0.bias"]) == 7.0


def test_dataparallel_prefix_removed(tmp_path, random_state):
    path = tmp_path / "parallel.pth"
    torch.save({"model": {f"module.{key}": value for key, value in random_state.items()}}, path)
    assert set(load_dass_state_dict(path)) == set(random_state)


def test_random_weights_detect(weights_file, page):
    detector = DASSDetector(str(weights_file), size="xs", score_threshold=0.5, input_size=INPUT_SIZE)
    assert detector.check().ok
    found = detector.detect(page)
    assert isinstance(found, Detections)
    assert np.all(found.scores >= 0.5)
    assert np.all(np.diff(found.scores) <= 0)
    assert np.all(found.boxes[:, :2] >= 0)
    assert np.all(found.boxes[:, 2] <= page.shape[1])
    assert np.all(found.boxes[:, 3] <= page.shape[0])
    assert np.all(found.boxes[:, 2:] > found.boxes[:, :2])
    assert set(found.detectors) <= {"dass"}


def test_decoding_and_letterbox(tmp_path, random_state, page):
    # Zero box outputs and objectness only on the stride-32 level: every
    # stride-32 cell (gx, gy) yields a 32x32 box centred on its top-left corner
    # (gx * 32, gy * 32) in input pixels, as YOLOX decodes.
    state = {key: value.clone() for key, value in random_state.items()}
    for level in range(3):
        state[f"face_head.reg_preds.{level}.weight"].zero_()
        state[f"face_head.reg_preds.{level}.bias"].zero_()
        state[f"face_head.obj_preds.{level}.weight"].zero_()
        state[f"face_head.obj_preds.{level}.bias"].fill_(10.0 if level == 2 else -10.0)
    path = tmp_path / "pinned.pth"
    torch.save({"model": state}, path)

    found = DASSDetector(str(path), score_threshold=0.5, input_size=INPUT_SIZE, nms_iou=0.4).detect(page)

    height, width = page.shape[:2]
    ratio = min(INPUT_SIZE / height, INPUT_SIZE / width)
    expected = []
    for gy in range(INPUT_SIZE // 32):
        for gx in range(INPUT_SIZE // 32):
            box = np.array([gx * 32 - 16, gy * 32 - 16, gx * 32 + 16, gy * 32 + 16]) / ratio
            box = np.clip(box, 0, [width, height, width, height])
            if box[2] > box[0] and box[3] > box[1]:
                expected.append(box)
    expected = np.array(expected)
    order = np.lexsort((found.boxes[:, 0], found.boxes[:, 1]))
    expected_order = np.lexsort((expected[:, 0], expected[:, 1]))
    np.testing.assert_allclose(found.boxes[order], expected[expected_order], atol=1e-3)
    np.testing.assert_allclose(found.scores, 1 / (1 + np.exp(-10.0)), rtol=1e-5)


def test_wrong_keys_named(tmp_path, random_state, page):
    state = dict(random_state)
    state["face_head.extra_conv.weight"] = state.pop("face_head.reg_preds.0.weight")
    path = tmp_path / "renamed.pth"
    torch.save({"model": state}, path)
    detector = DASSDetector(str(path), input_size=INPUT_SIZE)
    with pytest.raises(ValueError, match="missing keys") as error:
        detector.detect(page)
    assert "face_head.reg_preds.0.weight" in str(error.value)
    assert "unexpected keys" in str(error.value)
    assert "face_head.extra_conv.weight" in str(error.value)


def test_wrong_shape_suggests_other_size(tmp_path, random_state, page):
    state = dict(random_state)
    state["face_head.reg_preds.0.weight"] = torch.zeros(4, 320, 1, 1)
    path = tmp_path / "reshaped.pth"
    torch.save({"model": state}, path)
    with pytest.raises(ValueError, match="size='xl'"):
        DASSDetector(str(path), input_size=INPUT_SIZE).detect(page)


def test_non_tensor_checkpoint_rejected(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ValueError, match="state dict"):
        load_dass_state_dict(path)


def test_unsafe_pickle_rejected(tmp_path):
    import pickle

    path = tmp_path / "object.pth"
    path.write_bytes(pickle.dumps({"model": {"weight": np.zeros(2)}}, protocol=2))
    with pytest.raises(ValueError, match="weights_only=True"):
        load_dass_state_dict(path)


def test_missing_weights_unavailable(tmp_path, page):
    detector = DASSDetector(str(tmp_path / "dass_xs.pth"))
    status = detector.check()
    assert not status.ok
    assert "DASS_Det_Inference" in status.reason
    with pytest.raises(RuntimeError, match="not found"):
        detector.detect(page)


def test_empty_path_unavailable():
    assert not DASSDetector().check().ok


def test_bare_name_found_in_models_dir(weights_file):
    detector = DASSDetector(weights_file.name, models_dir=str(weights_file.parent))
    assert detector.check().ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weights_path", 1),
        ("size", "m"),
        ("score_threshold", 0.0),
        ("input_size", 300),
        ("nms_iou", 1.5),
        ("device", "gpu"),
        ("models_dir", 3),
    ],
)
def test_invalid_parameter_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        DASSDetector(**{field: value})
