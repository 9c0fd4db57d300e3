"""Tests of the reducers: identity pass-through and PCA for small face sets."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from comicfaces.reduction import REDUCERS, IdentityReducer, PCAReducer, make_reducer


@pytest.fixture
def features(rng) -> np.ndarray:
    """40 faces with 30 float32 features of very different variances."""
    scales = np.geomspace(0.01, 10, 30)
    return (rng.normal(size=(40, 30)) * scales).astype(np.float32)


# ---------------------------------------------------------------- identity


def test_identity_returns_input(features):
    reduced = IdentityReducer().fit_transform(features)
    np.testing.assert_array_equal(reduced, features)
    assert reduced.dtype == np.float32


def test_identity_rejects_other_width(features):
    reducer = IdentityReducer().fit(features)
    with pytest.raises(ValueError, match="30 features"):
        reducer.transform(features[:, :5])


def test_identity_feature_names(features):
    names = IdentityReducer().fit(features).get_feature_names_out()
    assert list(names[:2]) == ["x0", "x1"]


# ---------------------------------------------------------------- PCA


def test_pca_keeps_requested_components(features):
    reducer = PCAReducer(n_components=5).fit(features)
    assert reducer.n_components_ == 5
    assert reducer.transform(features).shape == (40, 5)


def test_pca_preserves_float32(features):
    assert PCAReducer(n_components=5).fit_transform(features).dtype == np.float32


def test_pca_five_faces_clips_components(rng, caplog):
    faces = rng.normal(size=(5, 1764))
    with caplog.at_level(logging.WARNING, logger="comicfaces.reduction"):
        reduced = PCAReducer(n_components=50).fit_transform(faces)
    assert reduced.shape == (5, 4)
    assert "n_components=50" in caplog.text
    assert "using 4 components" in caplog.text


def test_pca_few_features_clips_components(rng, caplog):
    with caplog.at_level(logging.WARNING, logger="comicfaces.reduction"):
        reduced = PCAReducer(n_components=50).fit_transform(rng.normal(size=(100, 6)))
    assert reduced.shape == (100, 6)
    assert "using 6 components" in caplog.text


def test_pca_no_warning_when_components_fit(features, caplog):
    with caplog.at_level(logging.WARNING, logger="comicfaces.reduction"):
        PCAReducer(n_components=10).fit(features)
    assert caplog.text == ""


def test_pca_two_faces(rng):
    reduced = PCAReducer(n_components=50, whiten=True).fit_transform(rng.normal(size=(2, 20)))
    assert reduced.shape == (2, 1)
    assert np.isfinite(reduced).all()


def test_pca_one_face_rejected(rng):
    with pytest.raises(ValueError, match="at least 2 samples, got n_samples=1"):
        PCAReducer().fit(rng.normal(size=(1, 20)))


def test_pca_variance_share(features):
    reducer = PCAReducer(n_components=0.9).fit(features)
    assert reducer.explained_variance_ratio_.sum() >= 0.9
    assert reducer.explained_variance_ratio_[:-1].sum() < 0.9


def test_pca_none_keeps_all(features):
    assert PCAReducer(n_components=None).fit(features).n_components_ == 30


def test_pca_whiten_gives_unit_variance(features):
    reduced = PCAReducer(n_components=5, whiten=True).fit_transform(features.astype(np.float64))
    np.testing.assert_allclose(reduced.var(axis=0, ddof=1), 1.0, rtol=1e-6)


def test_pca_standardize_ignores_feature_scale(features):
    rescaled = features * np.linspace(1, 1000, 30, dtype=np.float32)
    plain = PCAReducer(n_components=3, standardize=True).fit_transform(features.astype(np.float64))
    scaled = PCAReducer(n_components=3, standardize=True).fit_transform(rescaled.astype(np.float64))
    np.testing.assert_allclose(np.abs(plain), np.abs(scaled), atol=1e-6)
    assert PCAReducer(n_components=3).fit(rescaled).scaler_ is None


def test_pca_standardize_changes_dominant_feature(rng):
    data = rng.normal(size=(200, 10))
    data[:, 3] *= 1000
    plain = PCAReducer(n_components=1).fit(data).pca_.components_[0]
    scaled = PCAReducer(n_components=1, standardize=True).fit(data).pca_.components_[0]
    assert abs(plain[3]) > 0.99
    assert abs(scaled[3]) < 0.9


def test_pca_deterministic_with_randomized_solver(rng):
    # 600 x 600 input with few components makes sklearn pick the randomized solver.
    data = rng.normal(size=(600, 600))
    first = PCAReducer(n_components=10, random_state=3).fit(data)
    assert first.pca_._fit_svd_solver == "randomized"
    second = clone(first).fit(data)
    np.testing.assert_array_equal(first.transform(data), second.transform(data))


def test_pca_rejects_other_width(features):
    reducer = PCAReducer(n_components=5).fit(features)
    with pytest.raises(ValueError, match="30 features"):
        reducer.transform(features[:, :10])


# ---------------------------------------------------------------- registry and parameters


def test_registry_names():
    assert REDUCERS["none"] is IdentityReducer
    assert REDUCERS["pca"] is PCAReducer


def test_make_reducer_default_is_identity():
    assert isinstance(make_reducer(), IdentityReducer)


def test_make_reducer_passes_params():
    reducer = make_reducer("pca", n_components=8, whiten=True)
    assert reducer.get_params()["n_components"] == 8
    assert reducer.get_params()["whiten"] is True


def test_make_reducer_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="unknown reducer 'tsne'.*none, pca"):
        make_reducer("tsne")


def test_make_reducer_unknown_param_lists_valid():
    with pytest.raises(ValueError, match="unknown parameter.*n_comp.*n_components"):
        make_reducer("pca", n_comp=5)


def test_make_reducer_identity_takes_no_params():
    with pytest.raises(ValueError, match="unknown parameter.*whiten"):
        make_reducer("none", whiten=True)


BAD_PCA_PARAMS = [
    ("n_components", 0, "n_components must be an integer >= 1, a float in \\(0, 1\\)"),
    ("n_components", -3, "n_components must be an integer >= 1"),
    ("n_components", 1.0, "n_components must be an integer >= 1"),
    ("n_components", 1.5, "n_components must be an integer >= 1"),
    ("n_components", 0.0, "n_components must be an integer >= 1"),
    ("n_components", float("nan"), "n_components must be an integer >= 1"),
    ("n_components", "mle", "n_components must be an integer >= 1"),
    ("n_components", True, "n_components must be an integer >= 1"),
    ("whiten", "yes", "whiten must be True or False"),
    ("standardize", 1, "standardize must be True or False"),
    ("random_state", -1, "random_state must be an integer"),
    ("random_state", "seed", "random_state must be an integer"),
]


@pytest.mark.parametrize(
    "field, value, message", BAD_PCA_PARAMS, ids=[f"{f}={v!r}" for f, v, _ in BAD_PCA_PARAMS]
)
def test_bad_pca_param_rejected_by_make_reducer(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_reducer("pca", **{field: value})


@pytest.mark.parametrize(
    "field, value, message", BAD_PCA_PARAMS, ids=[f"{f}={v!r}" for f, v, _ in BAD_PCA_PARAMS]
)
def test_bad_pca_param_rejected_by_fit(features, field, value, message):
    with pytest.raises(ValueError, match=message):
        PCAReducer(**{field: value}).fit(features)


def test_get_set_params_clone():
    reducer = PCAReducer().set_params(n_components=7, standardize=True)
    copy = clone(reducer)
    assert copy is not reducer
    assert copy.get_params() == {
        "n_components": 7,
        "whiten": False,
        "standardize": True,
        "random_state": 0,
    }


@parametrize_with_checks([IdentityReducer(), PCAReducer()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
