"""Tests of the generic ONNX detector on small ONNX graphs built here and run by onnxruntime.

Neither ``onnx`` nor ``onnxscript`` is installed, so ``torch.onnx.export``
cannot write a file here. The test graphs are encoded directly in the ONNX
protobuf wire format (field numbers from ``onnx/onnx.proto``, IR version 7,
opset 13). The graph computes ``scores = mean(input) * weights`` and returns
fixed boxes beside them, so the scores depend on the preprocessed input.
"""

from __future__ import annotations


import numpy as np
import pytest

from comicfaces.detect import Detections
from comicfaces.detect.onnx_generic import OnnxDetector

pytest.importorskip("onnxruntime")

INPUT_SIZE = 64

# ONNX TensorProto data types and AttributeProto types.
FLOAT, INT64 = 1, 7
ATTRIBUTE_INTS = 7
ATTRIBUTE_INT = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_bytes(number: int, payload: bytes | str) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _tensor(name: str, array: np.ndarray) -> bytes:
    data_type = FLOAT if array.dtype == np.float32 else INT64
    message = b"".join(_field_varint(1, dim) for dim in array.shape)
    message += _field_varint(2, data_type) + _field_bytes(8, name)
    return message + _field_bytes(9, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())


def _value_info(name: str, shape: list[int]) -> bytes:
    dims = b"".join(_field_bytes(1, _field_varint(1, dim)) for dim in shape)
    tensor_type = _field_varint(1, FLOAT) + _field_bytes(2, dims)
    return _field_bytes(1, name) + _field_bytes(2, _field_bytes(1, tensor_type))


def _node(op_type: str, inputs: list[str], outputs: list[str], attributes: bytes = b"") -> bytes:
    message = b"".join(_field_bytes(1, name) for name in inputs)
    message += b"".join(_field_bytes(2, name) for name in outputs)
    return message + _field_bytes(4, op_type) + attributes


def _attribute_ints(name: str, values: list[int]) -> bytes:
    body = _field_bytes(1, name) + b"".join(_field_varint(8, v) for v in values) + _field_varint(20, ATTRIBUTE_INTS)
    return _field_bytes(5, body)


def _attribute_int(name: str, value: int) -> bytes:
    return _field_bytes(5, _field_bytes(1, name) + _field_varint(3, value) + _field_varint(20, ATTRIBUTE_INT))


def write_score_model(path, boxes: np.ndarray, weights: np.ndarray, extra_columns: np.ndarray | None = None) -> None:
    """Write an ONNX model mapping ``(1, 3, S, S)`` to ``(1, N, 5)`` rows, or ``(1, N, 6)`` with ``extra_columns``.

    Rows are ``boxes[i], mean(input) * weights[i]`` and then ``extra_columns[i]``.
    """
    n = len(boxes)
    width = 5 if extra_columns is None else 6
    nodes = [
        _node("ReduceMean", ["image"], ["mean"], _attribute_ints("axes", [1, 2, 3]) + _attribute_int("keepdims", 1)),
        _node("Reshape", ["mean", "scalar_shape"], ["mean3"]),
        _node("Mul", ["mean3", "weights"], ["scores"]),
    ]
    columns = ["boxes", "scores"] if extra_columns is None else ["boxes", "scores", "extra"]
    nodes.append(_node("Concat", columns, ["detections"], _attribute_int("axis", 2)))
    initializers = [
        _tensor("scalar_shape", np.array([1, 1, 1], dtype=np.int64)),
        _tensor("weights", np.asarray(weights, dtype=np.float32).reshape(1, n, 1)),
        _tensor("boxes", np.asarray(boxes, dtype=np.float32).reshape(1, n, 4)),
    ]
    if extra_columns is not None:
        initializers.append(_tensor("extra", np.asarray(extra_columns, dtype=np.float32).reshape(1, n, 1)))

    graph = b"".join(_field_bytes(1, node) for node in nodes) + _field_bytes(2, "score_test")
    graph += b"".join(_field_bytes(5, tensor) for tensor in initializers)
    graph += _field_bytes(11, _value_info("image", [1, 3, INPUT_SIZE, INPUT_SIZE]))
    graph += _field_bytes(12, _value_info("detections", [1, n, width]))
    opset = _field_bytes(1, "") + _field_varint(2, 13)
    model = _field_varint(1, 7) + _field_bytes(2, "comicfaces-tests") + _field_bytes(7, graph) + _field_bytes(8, opset)
    path.write_bytes(model)


# Boxes in input pixels of the 64x64 network input.
BOXES = np.array([[4, 4, 20, 20], [30, 6, 50, 26], [8, 40, 24, 60]], dtype=np.float32)
WEIGHTS = np.array([0.9, 0.2, 0.7], dtype=np.float32)


@pytest.fixture
def score_model(tmp_path):
    path = tmp_path / "scores.onnx"
    write_score_model(path, BOXES, WEIGHTS)
    return path


def test_white_page_keeps_boxes_above_threshold(score_model):
    # A 128x128 white page letterboxed with white padding: the input mean is 1,
    # so the scores are the weights.
    page = np.full((128, 128, 3), 255, dtype=np.uint8)
    detector = OnnxDetector(str(score_model), input_size=INPUT_SIZE, score_threshold=0.5, pad_value=255)
    found = detector.detect(page)
    assert isinstance(found, Detections)
    assert len(found) == 2
    np.testing.assert_allclose(found.scores, [0.9, 0.7], rtol=1e-5)
    # The letterbox factor is 64 / 128 = 0.5, so page pixels are input pixels times 2.
    np.testing.assert_allclose(found.boxes[0], [8, 8, 40, 40], atol=1e-4)
    np.testing.assert_allclose(found.boxes[1], [16, 80, 48, 120], atol=1e-4)
    assert set(found.detectors) == {"onnx"}


def test_letterbox_padding_enters_input(score_model):
    # A 128x64 white page fills the top half of the input. The bottom half is
    # padding of grey 0, so the input mean and every score are halved.
    page = np.full((64, 128, 3), 255, dtype=np.uint8)
    found = OnnxDetector(str(score_model), input_size=INPUT_SIZE, score_threshold=0.0, pad_value=0).detect(page)
    assert found.scores.max() == pytest.approx(0.45, rel=1e-5)


def test_box_outside_page_is_dropped(score_model):
    # The third box lies at y 40..60 in input pixels, i.e. 80..120 on a page only 64 high.
    page = np.full((64, 128, 3), 255, dtype=np.uint8)
    found = OnnxDetector(str(score_model), input_size=INPUT_SIZE, score_threshold=0.1, pad_value=255).detect(page)
    assert len(found) == 2
    assert found.boxes[:, 3].max() <= 64


def test_black_page_gives_no_detection(score_model):
    page = np.zeros((64, 64, 3), dtype=np.uint8)
    found = OnnxDetector(str(score_model), input_size=INPUT_SIZE, score_threshold=0.1).detect(page)
    assert len(found) == 0


def test_stretch_maps_axes_separately(score_model):
    page = np.full((32, 128, 3), 255, dtype=np.uint8)
    detector = OnnxDetector(str(score_model), input_size=INPUT_SIZE, score_threshold=0.5, resize="stretch")
    found = detector.detect(page)
    # x is scaled by 128 / 64 = 2 and y by 32 / 64 = 0.5.
    np.testing.assert_allclose(found.boxes[0], [8, 2, 40, 10], atol=1e-4)
    np.testing.assert_allclose(found.boxes[1], [16, 20, 48, 30], atol=1e-4)


def test_normalizations_change_scores(score_model):
    page = np.full((64, 64, 3), 255, dtype=np.uint8)
    byte = OnnxDetector(str(score_model), input_size=INPUT_SIZE, score_threshold=0.0, normalization="byte")
    symmetric = OnnxDetector(str(score_model), input_size=INPUT_SIZE, score_threshold=0.0, normalization="symmetric")
    assert byte.detect(page).scores.max() == pytest.approx(0.9 * 255, rel=1e-5)
    assert symmetric.detect(page).scores.max() == pytest.approx(0.9, rel=1e-5)


def test_class_column_selects_faces(tmp_path):
    path = tmp_path / "classes.onnx"
    write_score_model(path, BOXES, WEIGHTS, extra_columns=np.array([0, 1, 0]))
    page = np.full((64, 64, 3), 255, dtype=np.uint8)
    faces = OnnxDetector(str(path), input_size=INPUT_SIZE, output_format="xyxy_score_class", score_threshold=0.1)
    others = OnnxDetector(
        str(path), input_size=INPUT_SIZE, output_format="xyxy_score_class", score_threshold=0.1, face_class=1
    )
    np.testing.assert_allclose(np.sort(faces.detect(page).scores), [0.7, 0.9], rtol=1e-5)
    np.testing.assert_allclose(others.detect(page).scores, [0.2], rtol=1e-5)


def test_cxcywh_format(score_model):
    page = np.full((64, 64, 3), 255, dtype=np.uint8)
    found = OnnxDetector(str(score_model), input_size=INPUT_SIZE, output_format="cxcywh_score", score_threshold=0.8).detect(page)
    # Row (4, 4, 20, 20) read as centre (4, 4), size 20x20, clipped at the page's top left.
    np.testing.assert_allclose(found.boxes, [[0, 0, 14, 14]], atol=1e-4)


def test_wrong_row_length_is_reported(tmp_path):
    path = tmp_path / "classes.onnx"
    write_score_model(path, BOXES, WEIGHTS, extra_columns=np.array([0, 1, 0]))
    page = np.full((64, 64, 3), 255, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"\(1, 3, 6\).*xyxy_score"):
        OnnxDetector(str(path), input_size=INPUT_SIZE).detect(page)


def test_input_size_mismatch_is_reported(score_model):
    page = np.full((64, 64, 3), 255, dtype=np.uint8)
    with pytest.raises(ValueError, match="input_size"):
        OnnxDetector(str(score_model), input_size=128).detect(page)


def test_unknown_output_name_is_reported(score_model):
    page = np.full((64, 64, 3), 255, dtype=np.uint8)
    with pytest.raises(ValueError, match="detections"):
        OnnxDetector(str(score_model), input_size=INPUT_SIZE, output_name="boxes_out").detect(page)


def test_bare_name_found_in_models_dir(score_model):
    detector = OnnxDetector(score_model.name, input_size=INPUT_SIZE, models_dir=str(score_model.parent))
    assert detector.check().ok


def test_missing_file_is_unavailable(tmp_path):
    status = OnnxDetector(str(tmp_path / "absent.onnx")).check()
    assert not status.ok
    assert "absent.onnx" in status.reason
    with pytest.raises(RuntimeError, match="not found"):
        OnnxDetector(str(tmp_path / "absent.onnx")).detect(np.zeros((8, 8, 3), dtype=np.uint8))


def test_empty_path_is_unavailable():
    assert not OnnxDetector().check().ok


def test_get_params_round_trip(score_model):
    detector = OnnxDetector(str(score_model), input_size=INPUT_SIZE, channel_order="bgr")
    assert OnnxDetector(**detector.get_params()).get_params() == detector.get_params()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_path", 3),
        ("input_size", 16),
        ("output_format", "xywh"),
        ("score_threshold", 1.5),
        ("nms_iou", 0.0),
        ("normalization", "zscore"),
        ("channel_order", "gbr"),
        ("resize", "crop"),
        ("pad_value", 300),
        ("face_class", -1),
        ("output_name", 5),
        ("num_threads", 0),
        ("models_dir", 5),
    ],
)
def test_invalid_parameter_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        OnnxDetector(**{field: value})
