"""Pipeline configuration: defaults, files, unknown keys."""

from __future__ import annotations

import json

import pytest

from comicfaces.config import PipelineConfig, load_config


def test_defaults_validate():
    config = load_config(None)
    assert config.features.name == "efficientnet"
    assert config.clustering.name == "agglomerative"
    assert config.clustering.params["cannot_link"] is True


def test_round_trip_through_dict():
    config = PipelineConfig()
    assert PipelineConfig.from_dict(config.to_dict()) == config


def test_yaml_file_overrides(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("clustering:\n  name: kmeans\n  params: {n_clusters: 4}\n")
    config = load_config(path)
    assert config.clustering.name == "kmeans"
    assert config.clustering.params == {"n_clusters": 4}
    assert config.features == PipelineConfig().features


def test_json_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"features": {"name": "color_hist"}}))
    assert load_config(path).features.name == "color_hist"


def test_unknown_section_named(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("clusterng: {}\n")
    with pytest.raises(ValueError, match="clusterng"):
        load_config(path)


def test_unknown_parameter_named():
    with pytest.raises(ValueError, match="min_sise"):
        PipelineConfig.from_dict({"faces": {"min_sise": 3}})


def test_unknown_feature_name():
    with pytest.raises(ValueError, match="sift9"):
        PipelineConfig.from_dict({"features": {"name": "sift9"}})


def test_invalid_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("faces: [unclosed\n")
    with pytest.raises(ValueError, match="invalid configuration file"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.yaml"):
        load_config(tmp_path / "nothing.yaml")
