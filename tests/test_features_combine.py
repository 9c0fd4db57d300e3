"""Tests of ConcatFeatures: block validation, scaling, weights and missing blocks."""

from __future__ import annotations

import copy
import json
import logging
import math
import pickle

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from comicfaces.config import PipelineConfig
from comicfaces.features import FEATURES, ConcatFeatures, make_features
from comicfaces.features.combine import DEFAULT_BLOCKS, normalize_blocks


def textured_crop(seed: int, size: int = 96) -> np.ndarray:
    """White crop with random filled rectangles and circles: many corners and blobs."""
    generator = np.random.default_rng(seed)
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    for _ in range(12):
        color = tuple(int(value) for value in generator.integers(0, 200, 3))
        x, y = (int(value) for value in generator.integers(6, size - 6, 2))
        extent = int(generator.integers(5, size // 4))
        if generator.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + extent, y + extent // 2), color, -1)
        else:
            cv2.circle(image, (x, y), extent // 2, color, -1)
    return image


FLAT_INDEX = 2


@pytest.fixture(scope="module")
def crops() -> list[np.ndarray]:
    """Seven textured crops with a flat gray one at FLAT_INDEX."""
    images = [textured_crop(seed) for seed in range(7)]
    images.insert(FLAT_INDEX, np.full((80, 70, 3), 120, dtype=np.uint8))
    return images


HOG_AND_COLOR = [
    {"name": "hog", "params": {"size": 32}, "weight": 1.0},
    {"name": "color_hist", "params": {"bins": 8}, "weight": 1.0},
]
WITH_KEYPOINTS = [
    {"name": "hog", "params": {"size": 32}},
    {"name": "sift_bovw", "params": {"n_words": 6}, "weight": 0.5},
]


@pytest.fixture(scope="module")
def keypoint_concat(crops) -> tuple[ConcatFeatures, np.ndarray]:
    """ConcatFeatures(WITH_KEYPOINTS) fitted on the crops, and its fit_transform output.

    Tests that transform other crops work on a copy, because transform replaces
    missing_mask_.
    """
    extractor = ConcatFeatures(blocks=WITH_KEYPOINTS)
    return extractor, extractor.fit_transform(crops)


# ---------------------------------------------------------------- scaling and weights


def test_concat_shape_and_slices(crops):
    extractor = ConcatFeatures(blocks=HOG_AND_COLOR)
    features = extractor.fit_transform(crops)
    hog_width = make_features("hog", size=32).get_config().n_features
    assert features.shape == (len(crops), hog_width + 24)
    assert features.dtype == np.float32
    assert extractor.block_slices_ == [slice(0, hog_width), slice(hog_width, hog_width + 24)]
    assert len(extractor.get_feature_names_out()) == hog_width + 24


def test_concat_blocks_have_equal_total_variance(crops):
    extractor = ConcatFeatures(blocks=HOG_AND_COLOR)
    features = extractor.fit_transform(crops)
    for columns, scaler in zip(extractor.block_slices_, extractor.scalers_):
        block = features[:, columns]
        varying = np.count_nonzero(scaler.var_ > 0)
        np.testing.assert_allclose(block.mean(axis=0), 0, atol=1e-6)
        # Standardised columns have variance 1 (constant ones stay 0), and the
        # division by sqrt(width) makes their sum varying / width.
        assert block.var(axis=0).sum() == pytest.approx(varying / block.shape[1], rel=1e-4)


def test_concat_weight_scales_block(crops):
    equal = ConcatFeatures(blocks=HOG_AND_COLOR).fit_transform(crops)
    heavier = [dict(HOG_AND_COLOR[0]), {**HOG_AND_COLOR[1], "weight": 3.0}]
    extractor = ConcatFeatures(blocks=heavier)
    weighted = extractor.fit_transform(crops)
    hog_columns, color_columns = extractor.block_slices_
    np.testing.assert_array_equal(weighted[:, hog_columns], equal[:, hog_columns])
    np.testing.assert_allclose(weighted[:, color_columns], 3.0 * equal[:, color_columns], rtol=1e-6)


def test_concat_transform_matches_fit_transform(crops, keypoint_concat):
    extractor, fitted = keypoint_concat
    np.testing.assert_allclose(extractor.transform(crops), fitted, rtol=1e-6)


def test_concat_default_blocks(crops):
    extractor = ConcatFeatures()
    features = extractor.fit_transform(crops[:3])
    assert features.shape == (3, 1764 + 96)
    assert [block["name"] for block in extractor.get_config().blocks] == ["hog", "color_hist"]


# ---------------------------------------------------------------- missing blocks


def test_flat_crop_marked_missing(crops, caplog):
    extractor = ConcatFeatures(blocks=WITH_KEYPOINTS)
    with caplog.at_level(logging.WARNING, logger="comicfaces.features.combine"):
        features = extractor.fit_transform(crops)

    expected = np.zeros(len(crops), dtype=bool)
    expected[FLAT_INDEX] = True
    np.testing.assert_array_equal(extractor.missing_mask_, expected)
    assert extractor.n_missing_ == 1
    assert "1 of 8 crops lack at least one feature block" in caplog.text

    hog_columns, word_columns = extractor.block_slices_
    np.testing.assert_array_equal(features[FLAT_INDEX, word_columns], 0)
    assert np.abs(features[FLAT_INDEX, hog_columns]).sum() > 0


def test_missing_rows_excluded_from_scaler(crops, keypoint_concat):
    extractor, features = keypoint_concat
    word_columns = extractor.block_slices_[1]
    described = np.delete(features[:, word_columns], FLAT_INDEX, axis=0)
    np.testing.assert_allclose(described.mean(axis=0), 0, atol=1e-6)
    assert extractor.scalers_[1].n_samples_seen_ == len(crops) - 1


def test_transform_uses_fitted_blocks(crops):
    extractor = ConcatFeatures(blocks=HOG_AND_COLOR)
    fitted = extractor.fit_transform(crops)
    extractor.set_params(blocks=[{"name": "lbp"}])
    np.testing.assert_allclose(extractor.transform(crops), fitted, rtol=1e-6)
    assert [block["name"] for block in extractor.blocks_] == ["hog", "color_hist"]


def test_missing_mask_follows_transform_batch(crops, keypoint_concat):
    extractor = copy.deepcopy(keypoint_concat[0])
    extractor.transform([crops[0], crops[1]])
    assert extractor.missing_mask_.tolist() == [False, False]
    assert extractor.n_missing_ == 0


def test_no_missing_without_keypoint_blocks(crops):
    extractor = ConcatFeatures(blocks=HOG_AND_COLOR)
    extractor.fit_transform(crops)
    assert not extractor.missing_mask_.any()


def test_block_describing_no_crop_rejected():
    flat = [np.full((80, 80, 3), value, dtype=np.uint8) for value in (50, 120)]
    extractor = ConcatFeatures(blocks=[{"name": "orb_bovw", "params": {"n_words": 2}}])
    with pytest.raises(ValueError, match="no ORB keypoint"):
        extractor.fit(flat)


def test_transform_before_fit_rejected(crops):
    with pytest.raises(NotFittedError):
        ConcatFeatures().transform(crops)


# ---------------------------------------------------------------- parameters and serialisation


def test_blocks_json_round_trip(crops, keypoint_concat):
    extractor, features = keypoint_concat
    restored_blocks = json.loads(json.dumps(extractor.get_params()["blocks"]))
    restored = ConcatFeatures(blocks=restored_blocks)
    np.testing.assert_array_equal(restored.fit_transform(crops), features)


def test_normalized_blocks_fill_defaults():
    blocks = normalize_blocks([{"name": "lbp", "params": {"grid": (2, 2)}}])
    assert blocks == ({"name": "lbp", "params": {"grid": [2, 2]}, "weight": 1.0},)
    assert json.loads(json.dumps(blocks)) == list(blocks)


def test_pipeline_config_stores_blocks():
    data = {"features": {"name": "concat", "params": {"blocks": WITH_KEYPOINTS}}}
    config = PipelineConfig.from_dict(data)
    stored = config.to_dict()["features"]
    assert stored == {"name": "concat", "params": {"blocks": WITH_KEYPOINTS}}
    assert PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_pipeline_config_rejects_bad_block():
    data = {"features": {"name": "concat", "params": {"blocks": [{"name": "surf"}]}}}
    with pytest.raises(ValueError, match="unknown feature extractor 'surf'"):
        PipelineConfig.from_dict(data)


def test_get_set_params_clone(crops):
    extractor = ConcatFeatures(blocks=HOG_AND_COLOR)
    assert extractor.get_params() == {"blocks": HOG_AND_COLOR}
    extractor.set_params(blocks=WITH_KEYPOINTS)
    copy = clone(extractor)
    assert copy is not extractor
    assert copy.get_params() == {"blocks": WITH_KEYPOINTS}
    assert not hasattr(copy, "extractors_")


def test_pickle_fitted(crops, keypoint_concat):
    extractor, features = keypoint_concat
    restored = pickle.loads(pickle.dumps(extractor))
    np.testing.assert_allclose(restored.transform(crops), features, rtol=1e-6)


def test_default_blocks_registered():
    for block in DEFAULT_BLOCKS:
        assert block["name"] in FEATURES
    assert FEATURES["concat"] is ConcatFeatures


BAD_BLOCKS = [
    ("empty list", [], "blocks must contain at least one block"),
    ("mapping", {"name": "hog"}, "blocks must be a list of mappings"),
    ("string", "hog", "blocks must be a list of mappings"),
    ("block not mapping", ["hog"], r"blocks\[0\] must be a mapping with keys name, params, weight"),
    ("unknown key", [{"name": "hog", "scale": 2}], r"blocks\[0\] has unknown key\(s\) 'scale'"),
    ("missing name", [{"weight": 1.0}], r"blocks\[0\] is missing the extractor 'name'"),
    ("unknown name", [{"name": "hog"}, {"name": "surf"}], r"blocks\[1\]: unknown feature extractor 'surf'"),
    ("name not str", [{"name": 3}], r"blocks\[0\]: unknown feature extractor 3"),
    ("nested concat", [{"name": "concat"}], r"blocks\[0\]: a 'concat' block cannot be nested"),
    ("zero weight", [{"name": "hog", "weight": 0}], r"blocks\[0\] \(hog\) weight must be a number in \(0.0, inf\)"),
    ("negative weight", [{"name": "hog", "weight": -1.0}], r"blocks\[0\] \(hog\) weight must be a number"),
    ("nan weight", [{"name": "hog", "weight": math.nan}], r"blocks\[0\] \(hog\) weight must be a finite number"),
    ("text weight", [{"name": "hog", "weight": "1"}], r"blocks\[0\] \(hog\) weight must be a finite number"),
    ("params not mapping", [{"name": "hog", "params": [1]}], r"blocks\[0\] \(hog\): params must be a mapping"),
    ("params not JSON", [{"name": "hog", "params": {"size": {1, 2}}}], r"blocks\[0\] \(hog\): params must be JSON serialisable"),
    ("bad nested param", [{"name": "hog", "params": {"size": 4}}], r"blocks\[0\] \(hog\): size must be an integer >= 8"),
    ("unknown nested param", [{"name": "lbp", "params": {"radius": 2}}], r"blocks\[0\] \(lbp\): unknown parameter\(s\) radius"),
]  # fmt: skip


@pytest.mark.parametrize(
    "blocks, message", [case[1:] for case in BAD_BLOCKS], ids=[case[0] for case in BAD_BLOCKS]
)
def test_bad_blocks_rejected_by_make_features(blocks, message):
    with pytest.raises(ValueError, match=message):
        make_features("concat", blocks=blocks)


@pytest.mark.parametrize(
    "blocks, message", [case[1:] for case in BAD_BLOCKS], ids=[case[0] for case in BAD_BLOCKS]
)
def test_bad_blocks_rejected_by_fit(blocks, message, crops):
    extractor = ConcatFeatures()
    extractor.set_params(blocks=blocks)
    with pytest.raises(ValueError, match=message):
        extractor.fit(crops[:2])
