"""Tests of the face feature extractors (HOG, colour histograms) and their registry."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_get_params_invariance,
    check_mixin_order,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    check_valid_tag_types,
)

from comicfaces.features import (
    FEATURES,
    ColorHistogram,
    HOGConfig,
    HOGFeatures,
    check_images,
    make_features,
)
from comicfaces.imageio import load_image


def synthetic_crop(height: int = 48, width: int = 40) -> np.ndarray:
    """Fixed RGB crop with edges in every direction (no random numbers)."""
    yy, xx = np.mgrid[0:height, 0:width]
    radius_squared = (min(height, width) // 3) ** 2
    channels = [
        (xx * 5 + yy * 3) % 256,
        ((xx - width // 2) ** 2 + (yy - height // 2) ** 2 < radius_squared) * 200,
        (xx * yy) % 256,
    ]
    return np.stack(channels, axis=-1).astype(np.uint8)


def solid_crop(rgb, height=6, width=5) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (height, width, 3)).copy()


@pytest.fixture
def crops(rng) -> list[np.ndarray]:
    """Random crops of different sizes, including a 1 x 1 and a wide one."""
    sizes = [(64, 64), (120, 90), (1, 1), (30, 200), (7, 3)]
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


# ---------------------------------------------------------------- input validation


def test_check_images_accepts_list_of_sizes(crops):
    assert len(check_images(crops)) == len(crops)


def test_check_images_accepts_4d_batch(rng):
    batch = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    images = check_images(batch)
    assert len(images) == 3
    assert images[0].shape == (8, 8, 3)


@pytest.mark.parametrize("extractor", [HOGFeatures(), ColorHistogram()], ids=["hog", "color"])
def test_single_array_rejected(extractor):
    with pytest.raises(TypeError, match=r"single array of shape \(6, 5, 3\).*\[image\]"):
        extractor.fit_transform(solid_crop((1, 2, 3)))


@pytest.mark.parametrize("bad", [42, "crop.png", None, {"a": 1}], ids=repr)
def test_non_sequence_rejected(bad):
    with pytest.raises(TypeError, match="must be a list of RGB uint8 images"):
        check_images(bad)


def test_2d_array_rejected():
    with pytest.raises(TypeError, match=r"got an array of shape \(4, 4\)"):
        check_images(np.zeros((4, 4), dtype=np.uint8))


def test_empty_list_rejected():
    with pytest.raises(ValueError, match="no images"):
        check_images([])


def test_non_array_element_names_index():
    with pytest.raises(TypeError, match="image 1: expected a numpy array, got list"):
        check_images([solid_crop((0, 0, 0)), [[1, 2, 3]]])


def test_grayscale_element_names_index():
    with pytest.raises(ValueError, match=r"image 2: .*got shape \(6, 5\)"):
        check_images([solid_crop((0, 0, 0))] * 2 + [np.zeros((6, 5), dtype=np.uint8)])


def test_rgba_element_names_index():
    with pytest.raises(ValueError, match=r"image 0: .*got shape \(6, 5, 4\)"):
        check_images([np.zeros((6, 5, 4), dtype=np.uint8)])


def test_float_element_names_index():
    with pytest.raises(ValueError, match="image 1: expected dtype uint8, got float64"):
        check_images([solid_crop((0, 0, 0)), np.zeros((6, 5, 3))])


def test_empty_crop_names_index():
    with pytest.raises(ValueError, match=r"image 0: empty crop of shape \(0, 5, 3\)"):
        check_images([np.zeros((0, 5, 3), dtype=np.uint8)])


@pytest.mark.parametrize("extractor", [HOGFeatures(), ColorHistogram()], ids=["hog", "color"])
def test_transform_validates_input(extractor):
    with pytest.raises(ValueError, match="image 1"):
        extractor.fit_transform([solid_crop((0, 0, 0)), np.zeros((6, 5, 3), dtype=np.int16)])


# ---------------------------------------------------------------- HOG


# Reference values computed once with skimage 0.26. Any change to the grayscale
# conversion, the resize or the HOG parameters changes them. The 48 x 40 crop is
# enlarged to 64 x 64 and the 150 x 120 crop is shrunk, which runs the anti-aliasing.
HOG_REFERENCES = {
    (48, 40): (
        [0.08235024, 0.42890206, 0.23328614, 0.0, 0.06123506,
         0.0, 0.0, 0.0, 0.0, 0.09832864],
        [0.08235024, 0.05779283, 0.08830521, 0.0, 0.20795169,
         0.01174126, 0.02363077, 0.35447457, 0.00438390, 0.06054648],
        171.44336,
    ),
    (150, 120): (
        [0.06732405, 0.35956961, 0.35956961, 0.01233168, 0.05050078,
         0.0, 0.0, 0.0, 0.0, 0.10724242],
        [0.06732405, 0.00750690, 0.09882944, 0.0, 0.09492175,
         0.01119377, 0.05571241, 0.38298082, 0.16499183, 0.10579056],
        183.97893,
    ),
}  # fmt: skip


@pytest.mark.parametrize("shape", list(HOG_REFERENCES), ids=str)
def test_hog_reference_values(shape):
    first, strided, total = HOG_REFERENCES[shape]
    features = HOGFeatures().fit_transform([synthetic_crop(*shape)])[0]
    np.testing.assert_allclose(features[:10], first, atol=1e-6)
    np.testing.assert_allclose(features[::176][:10], strided, atol=1e-6)
    assert features.sum() == pytest.approx(total, abs=1e-3)


def test_hog_shape_and_dtype(crops):
    features = HOGFeatures().fit_transform(crops)
    assert features.shape == (len(crops), 1764)
    assert features.dtype == np.float32
    assert np.isfinite(features).all()


@pytest.mark.parametrize(
    "params",
    [
        {"size": 32},
        {"orientations": 12},
        {"pixels_per_cell": 16, "cells_per_block": 3},
        {"size": 40, "pixels_per_cell": 6},
    ],
    ids=str,
)
def test_hog_length_matches_config(params):
    extractor = HOGFeatures(**params)
    features = extractor.fit_transform([synthetic_crop()])
    assert features.shape == (1, extractor.get_config().n_features)


def test_hog_deterministic(crops):
    first = HOGFeatures().fit_transform(crops)
    second = clone(HOGFeatures()).fit_transform(crops)
    np.testing.assert_array_equal(first, second)


def test_hog_sees_orientation():
    crop = synthetic_crop()
    transposed = np.ascontiguousarray(crop.transpose(1, 0, 2))
    upright, turned = HOGFeatures().fit_transform([crop, transposed])
    assert not np.allclose(upright, turned)


def test_hog_flat_crop_is_zero():
    features = HOGFeatures().fit_transform([solid_crop((90, 90, 90), 50, 50)])
    np.testing.assert_array_equal(features, 0)


def test_hog_transform_without_fit():
    features = HOGFeatures(size=16).transform([synthetic_crop()])
    assert features.shape == (1, HOGConfig(size=16).n_features)


def test_hog_feature_names_after_fit():
    extractor = HOGFeatures(size=16).fit([synthetic_crop()])
    names = extractor.get_feature_names_out()
    assert len(names) == HOGConfig(size=16).n_features
    assert names[0] == "hogfeatures0"


# ---------------------------------------------------------------- colour histogram


def test_color_rgb_solid_red():
    features = ColorHistogram(bins=4).fit_transform([solid_crop((255, 0, 0))])[0]
    expected = [0, 0, 0, 1] + [1, 0, 0, 0] + [1, 0, 0, 0]
    np.testing.assert_allclose(features, expected)


def test_color_hsv_solid_red():
    # Pure red: hue 0 (first bin), full saturation and value (last bins).
    extractor = ColorHistogram(bins=4, color_space="hsv")
    features = extractor.fit_transform([solid_crop((255, 0, 0))])[0]
    np.testing.assert_allclose(features, [1, 0, 0, 0] + [0, 0, 0, 1] + [0, 0, 0, 1])


def test_color_hsv_white_has_no_saturation():
    extractor = ColorHistogram(bins=4, color_space="hsv")
    features = extractor.fit_transform([solid_crop((255, 255, 255))])[0]
    np.testing.assert_allclose(features[4:8], [1, 0, 0, 0])
    np.testing.assert_allclose(features[8:], [0, 0, 0, 1])


def test_color_bins_not_dividing_256():
    # With 3 bins, 85 is the last value of bin 0 and 86 the first of bin 1.
    crop = np.array([[[0, 85, 255], [86, 170, 171]]], dtype=np.uint8)
    features = ColorHistogram(bins=3).fit_transform([crop])[0]
    np.testing.assert_allclose(features[0:3], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(features[3:6], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(features[6:9], [0.0, 0.0, 1.0])


def test_color_each_channel_sums_to_one(crops):
    features = ColorHistogram(bins=16).fit_transform(crops)
    assert features.shape == (len(crops), 48)
    assert features.dtype == np.float32
    np.testing.assert_allclose(features.reshape(len(crops), 3, 16).sum(axis=2), 1.0, rtol=1e-6)


def test_color_independent_of_crop_size():
    crop = synthetic_crop()
    doubled = np.repeat(np.repeat(crop, 2, axis=0), 2, axis=1)
    small, large = ColorHistogram().fit_transform([crop, doubled])
    np.testing.assert_allclose(small, large, rtol=1e-6)


@pytest.mark.parametrize("color_space", ["rgb", "hsv"])
def test_color_deterministic(crops, color_space):
    first = ColorHistogram(color_space=color_space).fit_transform(crops)
    second = clone(ColorHistogram(color_space=color_space)).fit_transform(crops)
    np.testing.assert_array_equal(first, second)


# ---------------------------------------------------------------- real crops


def test_real_crops_give_finite_features(shared_data):
    faces = sorted((shared_data / "comicgen_faces" / "faces").glob("*.png"))[:4]
    images = [load_image(path) for path in faces]
    for name in FEATURES:
        features = make_features(name).fit_transform(images)
        assert features.shape[0] == 4
        assert np.isfinite(features).all()
        assert (features.std(axis=0) > 0).any()


# ---------------------------------------------------------------- registry and parameters


def test_registry_names():
    assert FEATURES["hog"] is HOGFeatures
    assert FEATURES["color_hist"] is ColorHistogram


def test_make_features_passes_params():
    extractor = make_features("color_hist", bins=8, color_space="hsv")
    assert isinstance(extractor, ColorHistogram)
    assert extractor.get_params() == {"bins": 8, "color_space": "hsv"}


def test_make_features_unknown_name_lists_valid():
    with pytest.raises(ValueError, match=r"unknown feature extractor 'sift'; valid names are: .*color_hist.*hog"):
        make_features("sift")


def test_make_features_unknown_param_lists_valid():
    with pytest.raises(ValueError, match="unknown parameter.*cell_size.*pixels_per_cell"):
        make_features("hog", cell_size=8)


BAD_PARAMS = [
    ("hog", "size", 4, "size must be an integer >= 8"),
    ("hog", "size", 64.0, "size must be an integer"),
    ("hog", "orientations", 0, "orientations must be an integer in"),
    ("hog", "orientations", True, "orientations must be an integer"),
    ("hog", "pixels_per_cell", 0, "pixels_per_cell must be an integer in"),
    ("hog", "pixels_per_cell", 128, "pixels_per_cell must be an integer in"),
    ("hog", "cells_per_block", 0, "cells_per_block must be an integer >= 1"),
    ("hog", "cells_per_block", 9, "cells_per_block must be at most"),
    ("hog", "block_norm", "l2", "block_norm must be one of"),
    ("color_hist", "bins", 0, r"bins must be an integer in \[1, 256\]"),
    ("color_hist", "bins", 257, r"bins must be an integer in \[1, 256\]"),
    ("color_hist", "color_space", "lab", "color_space must be one of 'rgb', 'hsv'"),
]


@pytest.mark.parametrize(
    "name, field, value, message", BAD_PARAMS, ids=[f"{n}-{f}={v!r}" for n, f, v, _ in BAD_PARAMS]
)
def test_bad_param_rejected_by_make_features(name, field, value, message):
    with pytest.raises(ValueError, match=message):
        make_features(name, **{field: value})


@pytest.mark.parametrize(
    "name, field, value, message", BAD_PARAMS, ids=[f"{n}-{f}={v!r}" for n, f, v, _ in BAD_PARAMS]
)
def test_bad_param_rejected_by_fit(name, field, value, message):
    extractor = FEATURES[name]()
    extractor.set_params(**{field: value})
    with pytest.raises(ValueError, match=message):
        extractor.fit([synthetic_crop()])


@pytest.mark.parametrize(
    "name, changed", [("hog", {"size": 32}), ("color_hist", {"bins": 8})], ids=["hog", "color"]
)
def test_get_set_params_clone(name, changed):
    extractor = FEATURES[name]()
    params = extractor.get_params()
    extractor.set_params(**changed)
    copy = clone(extractor)
    assert copy is not extractor
    assert copy.get_params() == {**params, **changed}


@pytest.mark.parametrize("cls", list(FEATURES.values()), ids=list(FEATURES))
def test_pickle_round_trip(cls, crops):
    extractor = cls().fit(crops)
    restored = pickle.loads(pickle.dumps(extractor))
    np.testing.assert_array_equal(restored.transform(crops), extractor.transform(crops))


# These extractors take a list of images, not a 2-D array, so their input tag
# two_d_array is False and check_estimator skips them entirely. The checks below are
# the API checks that need no input data. Skipped: every check that fits on 2-D
# numeric arrays (dtypes, NaN and inf, sparse input, n_features_in_, pipeline
# consistency, subset invariance, pickling of fitted state on arrays); the tests
# above cover the image-input versions of those concerns.
API_CHECKS = [
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_valid_tag_types,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_get_params_invariance,
    check_set_params,
    check_do_not_raise_errors_in_init_or_set_params,
    check_mixin_order,
]


@pytest.mark.parametrize("cls", list(FEATURES.values()), ids=list(FEATURES))
@pytest.mark.parametrize("check", API_CHECKS, ids=lambda check: check.__name__)
def test_sklearn_api_check(cls, check):
    check(cls.__name__, cls())
