"""Parameter checks shared by the detectors' validate() methods."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from comicfaces.detect.base import check_choice, check_integer, check_path, check_real


def message_of(check, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as raised:
        check(*args, **kwargs)
    return str(raised.value)


# check_real


@pytest.mark.parametrize("value", [0.5, 1.0, np.float32(0.25), np.int64(1), 1])
def test_real_accepts_half_open_interval(value):
    check_real("detector", "nms_iou", value, 0.0, 1.0, low_open=True)


@pytest.mark.parametrize(
    ("value", "case"),
    [
        ("0.5", "string"),
        (None, "None"),
        (True, "bool"),
        (np.bool_(True), "numpy bool"),
        (float("nan"), "NaN"),
        (float("inf"), "infinity"),
        (-0.5, "below low"),
        (0.0, "on open low bound"),
        (1.5, "above high"),
    ],
)
def test_real_rejects_bad_value(value, case):
    message = message_of(check_real, "detector", "nms_iou", value, 0.0, 1.0, low_open=True)
    assert message == f"detector: nms_iou must be in (0, 1], got {value!r}", case


def test_real_rejects_open_high_bound():
    message = message_of(check_real, "detector", "score_threshold", 1.0, 0.0, 1.0, low_open=True, high_open=True)
    assert message == "detector: score_threshold must be in (0, 1), got 1.0"


def test_real_closed_bounds_accepted():
    check_real("detector", "box_scale", 0.5, 0.5, 1.5)
    check_real("detector", "box_scale", 1.5, 0.5, 1.5)


def test_real_message_formats_bounds():
    message = message_of(check_real, "detector", "min_likelihood", -0.1, 0.0, 1.0, high_open=True)
    assert message == "detector: min_likelihood must be in [0, 1), got -0.1"

    message = message_of(check_real, "detector", "box_scale", 2.0, 0.5, 1.5)
    assert message == "detector: box_scale must be in [0.5, 1.5], got 2.0"


# check_integer


@pytest.mark.parametrize("value", [0, 255, np.int64(7), np.uint8(200)])
def test_integer_accepts_integers_in_range(value):
    check_integer("detector", "pad_value", value, 0, 255)


@pytest.mark.parametrize(
    ("value", "case"),
    [
        (512.0, "float"),
        (True, "bool"),
        (np.bool_(False), "numpy bool"),
        ("8", "string"),
        (None, "None without optional"),
        (-1, "below low"),
        (256, "above high"),
    ],
)
def test_integer_rejects_bad_value(value, case):
    message = message_of(check_integer, "detector", "pad_value", value, 0, 255)
    assert message == f"detector: pad_value must be an integer in [0, 255], got {value!r}", case


def test_integer_without_high_unbounded():
    check_integer("detector", "min_size", 10**9, 8, unit="pixels")

    message = message_of(check_integer, "detector", "min_size", 4, 8, unit="pixels")
    assert message == "detector: min_size must be an integer >= 8 pixels, got 4"


def test_integer_rejects_non_multiple():
    check_integer("detector", "input_size", 288, 256, 2048, multiple_of=32)

    message = message_of(check_integer, "detector", "input_size", 300, 256, 2048, multiple_of=32, unit="pixels")
    assert message == "detector: input_size must be a multiple of 32 in [256, 2048] pixels, got 300"


def test_integer_multiple_checks_range():
    message = message_of(check_integer, "detector", "input_size", 4096, 256, 2048, multiple_of=32)
    assert "[256, 2048]" in message


def test_integer_optional_accepts_none():
    check_integer("detector", "max_side", None, 64, optional=True)


def test_integer_optional_rejects_bad_value():
    message = message_of(check_integer, "detector", "max_side", 32, 64, optional=True, unit="pixels")
    assert message == "detector: max_side must be None or an integer >= 64 pixels, got 32"


def test_integer_high_text_replaces_bound():
    message = message_of(
        check_integer, "detector", "tile_overlap", 101, 0, 100, unit="pixels", high_text="tile_size / 2 = 100"
    )
    assert message == "detector: tile_overlap must be an integer in [0, tile_size / 2 = 100] pixels, got 101"


# check_choice


def test_choice_accepts_listed_value():
    check_choice("detector", "resize", "stretch", ("letterbox", "stretch"))
    check_choice("detector", "variant", "s", {"n": "n.onnx", "s": "s.onnx"})


def test_choice_rejects_unknown_string():
    message = message_of(check_choice, "detector", "resize", "crop", ("letterbox", "stretch"))
    assert message == "detector: resize must be one of letterbox, stretch, got 'crop'"


def test_choice_rejects_unhashable_value():
    message = message_of(check_choice, "detector", "variant", ["n"], {"n": "n.onnx", "s": "s.onnx"})
    assert message == "detector: variant must be one of n, s, got ['n']"


def test_choice_rejects_non_string():
    message = message_of(check_choice, "detector", "size", 1, ("xs", "xl"))
    assert message == "detector: size must be one of xs, xl, got 1"


# check_path


@pytest.mark.parametrize("value", ["models", Path("models"), ""])
def test_path_accepts_str_and_pathlike(value):
    check_path("detector", "model_path", value)


@pytest.mark.parametrize(("value", "case"), [(3, "int"), (b"models", "bytes"), (None, "None without optional")])
def test_path_rejects_bad_value(value, case):
    message = message_of(check_path, "detector", "model_path", value)
    assert message == f"detector: model_path must be a folder path, got {value!r}", case


def test_path_optional_accepts_none():
    check_path("detector", "models_dir", None, optional=True)


def test_path_optional_rejects_bad_value():
    message = message_of(check_path, "detector", "models_dir", 5, optional=True)
    assert message == "detector: models_dir must be a folder path or None, got 5"


def test_path_expected_text_in_message():
    message = message_of(check_path, "detector", "weights_path", 1, expected="a file path or name")
    assert message == "detector: weights_path must be a file path or name, got 1"
