"""Tests of the UMAP reducer, the t-SNE view helper and the reducer descriptions."""

from __future__ import annotations

import logging
import math
import unittest

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import estimator_checks_generator

from comicfaces.clustering import KMeansClusterer
from comicfaces.reduction import REDUCER_DESCRIPTIONS, REDUCERS, UMAPReducer, make_reducer, tsne_view


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three well separated groups of 30 faces with 20 float32 features."""
    X, y = make_blobs(n_samples=90, n_features=20, centers=3, cluster_std=1.0, center_box=(-10, 10), random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted(blobs) -> UMAPReducer:
    """UMAP with 5 components fitted on the blobs (fitting compiles numba code once)."""
    X, _ = blobs
    return UMAPReducer(n_components=5).fit(X)


# ---------------------------------------------------------------- UMAP


def test_umap_shape_and_dtype(blobs, fitted):
    X, _ = blobs
    embedding = fitted.transform(X)
    assert embedding.shape == (90, 5)
    assert embedding.dtype == np.float32
    assert fitted.n_components_ == 5
    assert fitted.n_neighbors_ == 15


def test_umap_fit_transform_is_training_embedding(blobs, fitted):
    X, _ = blobs
    np.testing.assert_array_equal(fitted.fit_transform(X), fitted.umap_.embedding_)


def test_umap_float64_output(blobs, fitted):
    X, _ = blobs
    assert fitted.transform(X[:5].astype(np.float64)).dtype == np.float64


def test_umap_keeps_blobs_apart(blobs, fitted):
    X, y = blobs
    labels = KMeansClusterer(n_clusters=3).fit_predict(fitted.transform(X))
    assert adjusted_rand_score(y, labels) == 1.0


def test_umap_deterministic(blobs, fitted):
    X, _ = blobs
    again = clone(fitted).fit(X)
    np.testing.assert_array_equal(again.umap_.embedding_, fitted.umap_.embedding_)


def test_umap_places_new_faces_near_their_blob(blobs, fitted):
    X, y = blobs
    embedding = fitted.transform(X)
    centres = np.stack([embedding[y == label].mean(axis=0) for label in range(3)])
    new = fitted.transform(X[:6] + 0.01)
    nearest = np.argmin(np.linalg.norm(new[:, None] - centres[None], axis=2), axis=1)
    np.testing.assert_array_equal(nearest, y[:6])


def test_umap_rejects_other_width(blobs, fitted):
    X, _ = blobs
    with pytest.raises(ValueError, match="20 features"):
        fitted.transform(X[:, :4])


def test_umap_small_set_clips(rng, caplog):
    with caplog.at_level(logging.WARNING, logger="comicfaces.reduction"):
        reducer = UMAPReducer(n_components=10, n_neighbors=15).fit(rng.normal(size=(6, 8)))
    assert reducer.n_neighbors_ == 5
    assert reducer.n_components_ == 4
    assert reducer.transform(rng.normal(size=(2, 8))).shape == (2, 4)
    assert "n_components=10 exceeds n_samples - 2 = 4" in caplog.text


def test_umap_three_faces(rng):
    embedding = UMAPReducer(n_components=2).fit_transform(rng.normal(size=(3, 8)))
    assert embedding.shape == (3, 1)
    assert np.isfinite(embedding).all()


def test_umap_two_faces_rejected(rng):
    with pytest.raises(ValueError, match="at least 3 samples, got n_samples=2"):
        UMAPReducer().fit(rng.normal(size=(2, 8)))


def test_umap_cosine_metric(blobs):
    X, _ = blobs
    embedding = UMAPReducer(n_components=2, metric="cosine").fit_transform(X)
    assert embedding.shape == (90, 2)


BAD_UMAP_PARAMS = [
    ("n_components", 0, "n_components must be an integer >= 1"),
    ("n_components", 2.0, "n_components must be an integer >= 1"),
    ("n_neighbors", 1, "n_neighbors must be an integer >= 2"),
    ("min_dist", -0.1, "min_dist must be a number in \\[0.0"),
    ("min_dist", math.inf, "min_dist must be a finite number"),
    ("metric", "hamming", "metric must be one of"),
    ("random_state", -1, "random_state must be an integer"),
]


@pytest.mark.parametrize("field, value, message", BAD_UMAP_PARAMS, ids=[f"{f}={v!r}" for f, v, _ in BAD_UMAP_PARAMS])
def test_bad_umap_param_rejected_by_make_reducer(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_reducer("umap", **{field: value})


@pytest.mark.parametrize("field, value, message", BAD_UMAP_PARAMS, ids=[f"{f}={v!r}" for f, v, _ in BAD_UMAP_PARAMS])
def test_bad_umap_param_rejected_by_fit(rng, field, value, message):
    with pytest.raises(ValueError, match=message):
        UMAPReducer(**{field: value}).fit(rng.normal(size=(10, 4)))


# ---------------------------------------------------------------- t-SNE view


def test_tsne_view_separates_blobs(blobs):
    X, y = blobs
    view = tsne_view(X[::2], random_state=0)
    assert view.shape == (45, 2)
    assert view.dtype == np.float32
    labels = KMeansClusterer(n_clusters=3).fit_predict(view)
    assert adjusted_rand_score(y[::2], labels) == 1.0


def test_tsne_view_small_set_seeded(rng):
    X = rng.normal(size=(4, 5))
    view = tsne_view(X, random_state=3)
    assert view.shape == (4, 2)
    assert np.isfinite(view).all()
    np.testing.assert_array_equal(view, tsne_view(X, random_state=3))


def test_tsne_view_too_few_faces(rng):
    np.testing.assert_array_equal(tsne_view(rng.normal(size=(2, 5))), np.zeros((2, 2)))


def test_tsne_view_rejects_1d():
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        tsne_view(np.zeros(5))


def test_tsne_not_a_reducer():
    assert "tsne" not in REDUCERS


# ---------------------------------------------------------------- registry


def test_registry_has_descriptions():
    assert set(REDUCER_DESCRIPTIONS) == set(REDUCERS)
    assert all(isinstance(text, str) and text for text in REDUCER_DESCRIPTIONS.values())


def test_make_reducer_umap_params():
    reducer = make_reducer("umap", n_components=3, min_dist=0.1)
    assert isinstance(reducer, UMAPReducer)
    assert reducer.get_params()["n_components"] == 3
    assert reducer.get_params()["min_dist"] == 0.1


# UMAP's transform optimises the new points of a batch together, starting from
# their neighbours in the fitted embedding, so the result for a face depends on
# the other faces in the batch: the two sample-invariance checks fail by design.
UMAP_EXPECTED_FAILURES = {
    "check_methods_sample_order_invariance": "UMAP transform depends on the batch",
    "check_methods_subset_invariance": "UMAP transform depends on the batch",
}


def test_sklearn_estimator_checks():
    # One test for all checks, because each UMAP fit costs a fraction of a
    # second and a parametrised run would repeat the numba start-up per worker.
    failures = []
    for estimator, check in estimator_checks_generator(UMAPReducer(), legacy=True, mark="skip"):
        name = getattr(check, "func", check).__name__
        if name in UMAP_EXPECTED_FAILURES:
            continue
        try:
            check(estimator)
        except (pytest.skip.Exception, unittest.SkipTest):
            continue
        except Exception as error:  # noqa: BLE001 - collect every failing check
            failures.append(f"{name}: {type(error).__name__}: {str(error)[:200]}")
    assert failures == []
