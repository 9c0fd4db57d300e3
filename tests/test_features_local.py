"""Tests of the LBP, random-baseline and keypoint-descriptor (BoVW, Fisher vector) extractors."""

from __future__ import annotations

import copy
import logging
import math

import cv2
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from comicfaces.features import (
    FEATURE_DESCRIPTIONS,
    FEATURES,
    LBPFeatures,
    LocalDescriptorFeatures,
    ORBBoVWFeatures,
    ORBFisherFeatures,
    RandomFeatures,
    SIFTBoVWFeatures,
    SIFTFisherFeatures,
    make_features,
)
from comicfaces.features.codebook import bovw_counts, fisher_vectors
from comicfaces.features.local import LocalDescriptorConfig, describe_images
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


def textured_crop(seed: int, size: int = 128) -> np.ndarray:
    """White crop with random filled rectangles and circles: many corners and blobs."""
    generator = np.random.default_rng(seed)
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    for _ in range(14):
        color = tuple(int(value) for value in generator.integers(0, 200, 3))
        x, y = (int(value) for value in generator.integers(8, size - 8, 2))
        extent = int(generator.integers(5, size // 4))
        if generator.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + extent, y + extent // 2), color, -1)
        else:
            cv2.circle(image, (x, y), extent // 2, color, -1)
    return image


def flat_crop(size: int = 96) -> np.ndarray:
    return np.full((size, size, 3), 140, dtype=np.uint8)


@pytest.fixture(scope="module")
def textured() -> list[np.ndarray]:
    return [textured_crop(seed) for seed in range(8)]


@pytest.fixture(scope="module")
def fitted_bovw(textured) -> LocalDescriptorFeatures:
    """SIFT BoVW with 10 words fitted on the textured crops; copy it before set_params."""
    return LocalDescriptorFeatures(n_words=10).fit(textured)


@pytest.fixture(scope="module")
def with_flat(textured) -> list[np.ndarray]:
    """Eight textured crops and a flat one at index 3."""
    return textured[:3] + [flat_crop()] + textured[3:]


# ---------------------------------------------------------------- LBP


# Reference counts computed once with skimage 0.26, as pixel counts: every
# histogram entry is a count divided by the cell's pixel count. Any change to the
# grayscale conversion, the resize, the uint8 quantisation or the LBP parameters
# changes them. The 48 x 40 crop is enlarged to 64 x 64 and the 150 x 120 crop is
# shrunk, which runs the anti-aliasing.
LBP_UNIFORM_COUNTS = {
    (48, 40): [83, 112, 160, 387, 1666, 1020, 205, 164, 119, 180],
    (150, 120): [251, 386, 327, 411, 754, 377, 369, 422, 324, 475],
}

# P=16, R=2, "nri_uniform" on a 2 x 2 grid (972 values, 1024 pixels per cell):
# non-zero entries, every 97th count, and the sum of index * count.
LBP_GRID_REFERENCES = {
    (48, 40): (303, [13, 0, 0, 0, 6, 119, 1, 0, 0, 6, 65], 2033921),
    (150, 120): (409, [46, 0, 0, 0, 0, 226, 1, 0, 0, 2, 31], 2084842),
}


@pytest.mark.parametrize("shape", list(LBP_UNIFORM_COUNTS), ids=str)
def test_lbp_reference_values(shape):
    features = LBPFeatures().fit_transform([synthetic_crop(*shape)])[0]
    np.testing.assert_array_equal(features * 4096, LBP_UNIFORM_COUNTS[shape])


@pytest.mark.parametrize("shape", list(LBP_GRID_REFERENCES), ids=str)
def test_lbp_grid_reference_values(shape):
    n_nonzero, strided, weighted = LBP_GRID_REFERENCES[shape]
    extractor = LBPFeatures(P=16, R=2.0, method="nri_uniform", grid=(2, 2))
    counts = np.rint(extractor.fit_transform([synthetic_crop(*shape)])[0] * 1024).astype(int)
    assert counts.size == 972
    assert np.count_nonzero(counts) == n_nonzero
    assert counts[::97].tolist() == strided
    assert int((counts * np.arange(counts.size)).sum()) == weighted


@pytest.mark.parametrize(
    "params, n_features",
    [
        ({}, 10),
        ({"P": 16, "R": 2.0}, 18),
        ({"method": "nri_uniform"}, 59),
        ({"method": "ror"}, 256),
        ({"method": "default", "P": 4}, 16),
        ({"grid": (3, 2)}, 60),
        ({"grid": [4, 4], "size": 30}, 160),
    ],
    ids=str,
)
def test_lbp_length_matches_config(params, n_features):
    extractor = LBPFeatures(**params)
    features = extractor.fit_transform([synthetic_crop(), synthetic_crop(150, 120)])
    assert extractor.get_config().n_features == n_features
    assert features.shape == (2, n_features)
    assert features.dtype == np.float32


@pytest.mark.parametrize("method", ["uniform", "nri_uniform", "ror", "default"])
def test_lbp_each_cell_sums_to_one(method):
    extractor = LBPFeatures(method=method, grid=(3, 2), size=40)
    features = extractor.fit_transform([synthetic_crop(), textured_crop(0)])
    cells = features.reshape(2, 6, -1)
    np.testing.assert_allclose(cells.sum(axis=2), 1.0, rtol=1e-6)


def test_lbp_grid_keeps_layout():
    # Mirroring top to bottom leaves the single histogram nearly unchanged but
    # swaps the cells of a 2 x 1 grid.
    crop = textured_crop(1)
    mirrored = np.ascontiguousarray(crop[::-1])
    whole = LBPFeatures().fit_transform([crop, mirrored])
    split = LBPFeatures(grid=(2, 1)).fit_transform([crop, mirrored])
    np.testing.assert_allclose(whole[0], whole[1], atol=0.02)
    np.testing.assert_allclose(split[0, :10], split[1, 10:], atol=0.02)
    assert np.abs(split[0] - split[1]).sum() > 0.1


def test_lbp_flat_crop_codes():
    features = LBPFeatures().fit_transform([flat_crop()])[0]
    # Inside, every neighbour equals the centre: all bits set, uniform code 8.
    # skimage reads neighbours outside the image as 0, so the 4 corners keep 3
    # contiguous set bits (code 3) and the other 248 border pixels keep 5 (code 5).
    expected = np.zeros(10)
    expected[[3, 5, 8]] = [4, 248, 62 * 62]
    np.testing.assert_array_equal(features * 4096, expected)


def test_lbp_grid_list_from_json():
    assert LBPFeatures(grid=[2, 3]).get_config().grid == (2, 3)


# ---------------------------------------------------------------- random baseline


def test_random_shape_seed_and_independence_of_pixels(textured):
    first = RandomFeatures(n_components=16).fit_transform(textured[:4])
    other_pixels = RandomFeatures(n_components=16).fit_transform([flat_crop()] * 4)
    reseeded = RandomFeatures(n_components=16, random_state=1).fit_transform(textured[:4])
    assert first.shape == (4, 16)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, other_pixels)
    assert not np.allclose(first, reseeded)


def test_random_is_standard_normal():
    features = RandomFeatures(n_components=200).fit_transform([flat_crop(4)] * 50)
    assert abs(features.mean()) < 0.05
    assert features.std() == pytest.approx(1.0, abs=0.05)


def test_random_validates_crops():
    with pytest.raises(ValueError, match="image 0: expected dtype uint8"):
        RandomFeatures().fit_transform([np.zeros((4, 4, 3))])


# ---------------------------------------------------------------- keypoint descriptors


def test_sift_descriptors_unit_norm_and_capped(textured):
    config = LocalDescriptorConfig(detector="sift", max_keypoints=5).validate()
    descriptors = describe_images(textured[:3], config)
    for block in descriptors:
        assert block.shape[1] == 128
        assert 1 <= len(block) <= 5
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, rtol=1e-5)


def test_orb_descriptors_are_bits(textured):
    config = LocalDescriptorConfig(detector="orb").validate()
    descriptors = describe_images(textured[:3], config)
    for block in descriptors:
        assert block.shape[1] == 256
        assert len(block) > 0
        assert set(np.unique(block)) <= {0.0, 1.0}


def test_flat_crop_has_no_descriptors():
    for detector in ("sift", "orb"):
        config = LocalDescriptorConfig(detector=detector).validate()
        [block] = describe_images([flat_crop()], config)
        assert block.shape == (0, config.descriptor_dim)


@pytest.mark.parametrize("detector", ["sift", "orb"])
def test_bovw_l1_rows_and_empty_face(with_flat, detector, caplog):
    extractor = LocalDescriptorFeatures(detector=detector, n_words=12)
    with caplog.at_level(logging.WARNING, logger="comicfaces.features.local"):
        features = extractor.fit_transform(with_flat)

    assert features.shape == (9, 12)
    assert features.dtype == np.float32
    assert extractor.codebook_.cluster_centers_.shape == (12, 128 if detector == "sift" else 256)
    assert extractor.n_words_ == 12
    assert extractor.n_empty_ == 1
    assert extractor.empty_indices_.tolist() == [3]
    np.testing.assert_array_equal(features[3], 0)
    np.testing.assert_allclose(np.delete(features, 3, axis=0).sum(axis=1), 1.0, rtol=1e-5)
    assert "1 of 9 crops have no" in caplog.text


def test_bovw_counts_nearest_centre(textured, fitted_bovw):
    extractor = fitted_bovw
    config = extractor.get_config()
    descriptors = describe_images(textured[:2], config)
    counts = bovw_counts(extractor.codebook_, descriptors)

    centres = extractor.codebook_.cluster_centers_
    for row, block in zip(counts, descriptors):
        distances = ((block[:, None, :] - centres[None]) ** 2).sum(axis=2)
        expected = np.bincount(distances.argmin(axis=1), minlength=10)
        np.testing.assert_array_equal(row, expected)


def test_bovw_l2_norm(textured, fitted_bovw):
    # norm only acts in transform, so the fitted codebook can be reused.
    extractor = copy.deepcopy(fitted_bovw).set_params(norm="l2")
    features = extractor.transform(textured)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)


def test_bovw_tfidf_reweights(textured, fitted_bovw):
    plain = copy.deepcopy(fitted_bovw).set_params(norm="l2").transform(textured)
    extractor = LocalDescriptorFeatures(n_words=10, norm="l2", tfidf=True)
    weighted = extractor.fit_transform(textured)
    assert extractor.tfidf_.idf_.shape == (10,)
    np.testing.assert_allclose(np.linalg.norm(weighted, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(plain, weighted)
    np.testing.assert_array_equal(weighted > 0, plain > 0)


def test_transform_new_crops_sets_empty(textured, fitted_bovw):
    extractor = copy.deepcopy(fitted_bovw)
    assert not hasattr(extractor, "n_empty_")
    features = extractor.transform([flat_crop(), textured[0], flat_crop(50)])
    assert extractor.n_empty_ == 2
    assert extractor.empty_indices_.tolist() == [0, 2]
    assert features[1].sum() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("encoding", ["bovw", "fisher"])
def test_criterion_search_records_all_sizes(textured, encoding):
    candidates = [4, 8, 16]
    extractor = LocalDescriptorFeatures(encoding=encoding, n_words=candidates)
    extractor.fit(textured)

    scores = extractor.criterion_scores_
    assert sorted(scores) == candidates
    assert all(math.isfinite(score) for score in scores.values())
    assert extractor.n_words_ in candidates
    best = max(scores, key=scores.get) if encoding == "bovw" else min(scores, key=scores.get)
    assert extractor.n_words_ == best
    codebook = extractor.codebook_
    size = codebook.n_clusters if encoding == "bovw" else codebook.n_components
    assert size == extractor.n_words_
    dim = extractor.get_config().n_features_for(extractor.n_words_)
    assert extractor.transform(textured[:2]).shape == (2, dim)


def test_single_size_also_scored(textured):
    extractor = LocalDescriptorFeatures(n_words=6).fit(textured)
    assert list(extractor.criterion_scores_) == [6]
    assert -1.0 <= extractor.criterion_scores_[6] <= 1.0


def test_too_large_size_skipped_as_nan(textured):
    # 2 crops with at most 3 keypoints each give at most 6 descriptors.
    extractor = LocalDescriptorFeatures(n_words=[2, 500], max_keypoints=3)
    extractor.fit(textured[:2])
    assert math.isnan(extractor.criterion_scores_[500])
    assert extractor.n_words_ == 2


def test_too_few_descriptors_rejected(textured):
    extractor = LocalDescriptorFeatures(n_words=50, max_keypoints=3)
    with pytest.raises(ValueError, match=r"only \d+ SIFT descriptors.*smallest codebook size 50"):
        extractor.fit(textured[:2])


def test_all_crops_flat_rejected():
    with pytest.raises(ValueError, match="no ORB keypoint was found on any of the 2 crops"):
        LocalDescriptorFeatures(detector="orb").fit([flat_crop(), flat_crop(70)])


def test_transform_before_fit_rejected(textured):
    with pytest.raises(NotFittedError):
        LocalDescriptorFeatures().transform(textured[:1])


def test_max_descriptors_subsamples(textured):
    extractor = LocalDescriptorFeatures(n_words=8, max_descriptors=100).fit(textured)
    assert extractor.n_descriptors_ == 100


@pytest.mark.parametrize("detector, dim", [("sift", 128), ("orb", 256)])
def test_fisher_dimension_and_unit_norm(with_flat, detector, dim):
    extractor = LocalDescriptorFeatures(detector=detector, encoding="fisher", n_words=4)
    features = extractor.fit_transform(with_flat)
    assert features.shape == (9, 2 * 4 * dim)
    assert extractor.codebook_.means_.shape == (4, dim)
    norms = np.linalg.norm(features, axis=1)
    np.testing.assert_allclose(np.delete(norms, 3), 1.0, rtol=1e-5)
    assert norms[3] == 0
    assert extractor.empty_indices_.tolist() == [3]


def test_fisher_matches_per_descriptor_formula(textured):
    extractor = LocalDescriptorFeatures(encoding="fisher", n_words=3, max_keypoints=20)
    extractor.fit(textured)
    mixture = extractor.codebook_
    block = describe_images(textured[:1], extractor.get_config())[0].astype(np.float64)

    # The gradients of Perronnin et al. (2010), one descriptor and component at a time.
    # The mixture's parameters are float32; the comparison needs them in float64.
    posteriors = mixture.predict_proba(block)
    weights = mixture.weights_.astype(np.float64)
    means = mixture.means_.astype(np.float64)
    sigmas = np.sqrt(mixture.covariances_.astype(np.float64))
    n_components, dim = means.shape
    mean_gradient = np.zeros((n_components, dim))
    sigma_gradient = np.zeros((n_components, dim))
    for t, x in enumerate(block):
        for k in range(n_components):
            standardized = (x - means[k]) / sigmas[k]
            mean_gradient[k] += posteriors[t, k] * standardized
            sigma_gradient[k] += posteriors[t, k] * (standardized**2 - 1)
    mean_gradient /= len(block) * np.sqrt(weights)[:, None]
    sigma_gradient /= len(block) * np.sqrt(2 * weights)[:, None]
    expected = np.concatenate([mean_gradient.ravel(), sigma_gradient.ravel()])
    expected = np.sign(expected) * np.sqrt(np.abs(expected))
    expected /= np.linalg.norm(expected)

    np.testing.assert_allclose(fisher_vectors(mixture, [block])[0], expected, atol=1e-9)


def test_local_deterministic(textured):
    first = LocalDescriptorFeatures(n_words=8).fit_transform(textured)
    second = clone(LocalDescriptorFeatures(n_words=8)).fit_transform(textured)
    np.testing.assert_array_equal(first, second)


def test_local_feature_names_after_fit(textured):
    extractor = LocalDescriptorFeatures(encoding="fisher", n_words=2).fit(textured[:3])
    names = extractor.get_feature_names_out()
    assert len(names) == 2 * 2 * 128
    assert names[0] == "localdescriptorfeatures0"


def test_n_words_list_from_json(textured):
    assert LocalDescriptorFeatures(n_words=[16, 8]).get_config().candidates == (8, 16)


@pytest.mark.parametrize(
    "cls, detector, encoding",
    [
        (ORBBoVWFeatures, "orb", "bovw"),
        (SIFTBoVWFeatures, "sift", "bovw"),
        (ORBFisherFeatures, "orb", "fisher"),
        (SIFTFisherFeatures, "sift", "fisher"),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_preset_defaults_and_clone(cls, detector, encoding):
    extractor = cls(n_words=16)
    params = extractor.get_params()
    assert params["detector"] == detector
    assert params["encoding"] == encoding
    assert params["n_words"] == 16
    assert set(params) == set(LocalDescriptorFeatures().get_params())
    copy = clone(extractor)
    assert type(copy) is cls
    assert copy.get_params() == params
    assert repr(extractor) == f"{cls.__name__}(n_words=16)"


# ---------------------------------------------------------------- real crops


def test_real_crops_all_have_sift_keypoints(shared_data):
    faces = sorted((shared_data / "comicgen_faces" / "faces").glob("*.png"))[::60]
    images = [load_image(path) for path in faces]
    extractor = make_features("sift_bovw", n_words=16)
    features = extractor.fit_transform(images)
    assert extractor.n_empty_ == 0
    np.testing.assert_allclose(features.sum(axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- registry and parameters


def test_registry_has_new_names():
    expected = {
        "lbp": LBPFeatures,
        "random": RandomFeatures,
        "local": LocalDescriptorFeatures,
        "orb_bovw": ORBBoVWFeatures,
        "sift_bovw": SIFTBoVWFeatures,
        "orb_fisher": ORBFisherFeatures,
        "sift_fisher": SIFTFisherFeatures,
    }
    for name, cls in expected.items():
        assert FEATURES[name] is cls


def test_every_extractor_described():
    assert set(FEATURE_DESCRIPTIONS) == set(FEATURES)
    for name, description in FEATURE_DESCRIPTIONS.items():
        assert description, name
        assert "\n" not in description, name


BAD_PARAMS = [
    ("lbp", {"P": 0}, r"P must be an integer in \[1, 32\]"),
    ("lbp", {"P": 33}, r"P must be an integer in \[1, 32\]"),
    ("lbp", {"P": 8.0}, "P must be an integer"),
    ("lbp", {"P": 17, "method": "default"}, "P must be at most 16 for method 'default'"),
    ("lbp", {"P": 17, "method": "ror"}, "P must be at most 16 for method 'ror'"),
    ("lbp", {"R": 0.0}, r"R must be a number in \(0.0, inf\)"),
    ("lbp", {"R": float("inf")}, "R must be a finite number"),
    ("lbp", {"R": "1"}, "R must be a finite number"),
    ("lbp", {"R": 32.0}, "R must be less than size / 2 = 32.0"),
    ("lbp", {"method": "var"}, "method must be one of 'uniform'"),
    ("lbp", {"size": 4}, "size must be an integer >= 8"),
    ("lbp", {"grid": (0, 1)}, r"grid rows must be an integer in \[1, 64\]"),
    ("lbp", {"grid": (1, 65)}, r"grid columns must be an integer in \[1, 64\]"),
    ("lbp", {"grid": (2,)}, r"grid must be a pair \(rows, columns\)"),
    ("lbp", {"grid": "2x2"}, r"grid must be a pair \(rows, columns\)"),
    ("random", {"n_components": 0}, "n_components must be an integer >= 1"),
    ("random", {"random_state": -1}, "random_state must be an integer in"),
    ("random", {"random_state": "seed"}, "random_state must be an integer in"),
    ("local", {"detector": "surf"}, "detector must be one of 'sift', 'orb'"),
    ("local", {"encoding": "vlad"}, "encoding must be one of 'bovw', 'fisher'"),
    ("local", {"n_words": 1}, "n_words must be an integer >= 2"),
    ("local", {"n_words": 8.0}, "n_words must be an integer >= 2"),
    ("local", {"n_words": []}, r"n_words must be an integer >= 2 or a non-empty list"),
    ("local", {"n_words": [8, 1]}, "n_words must be an integer >= 2, got 1"),
    ("local", {"n_words": [8, 8]}, r"n_words must not repeat a size, got \[8, 8\]"),
    ("local", {"size": 8}, "size must be an integer >= 16"),
    ("orb_bovw", {"size": 32}, "size must be at least 64 for detector 'orb'"),
    ("local", {"max_keypoints": 0}, "max_keypoints must be an integer >= 1"),
    ("local", {"max_descriptors": 1}, "max_descriptors must be an integer >= 2"),
    ("local", {"max_descriptors": 100, "n_words": [16, 128]}, r"at least the largest n_words \(128\)"),
    ("local", {"norm": "max"}, "norm must be one of 'l1', 'l2'"),
    ("local", {"tfidf": "yes"}, "tfidf must be True or False"),
    ("sift_fisher", {"tfidf": True}, "tfidf applies only to encoding 'bovw'"),
    ("local", {"random_state": 1.5}, "random_state must be an integer in"),
]


@pytest.mark.parametrize(
    "name, params, message", BAD_PARAMS, ids=[f"{n}-{p}" for n, p, _ in BAD_PARAMS]
)
def test_bad_param_rejected_by_make_features(name, params, message):
    with pytest.raises(ValueError, match=message):
        make_features(name, **params)


@pytest.mark.parametrize(
    "name, params, message", BAD_PARAMS, ids=[f"{n}-{p}" for n, p, _ in BAD_PARAMS]
)
def test_bad_param_rejected_by_fit(name, params, message):
    extractor = FEATURES[name]()
    extractor.set_params(**params)
    with pytest.raises(ValueError, match=message):
        extractor.fit([synthetic_crop()])

