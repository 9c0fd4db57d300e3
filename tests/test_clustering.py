"""Tests of the k-means and HDBSCAN face clusterers and their registry."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from comicfaces.clustering import (
    CLUSTERERS,
    HDBSCANClusterer,
    KMeansClusterer,
    make_clusterer,
)
from comicfaces.features import make_features
from comicfaces.imageio import load_image
from comicfaces.metrics import evaluate_clustering, labels_from_csv


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Four well separated groups of 25 points in 10 dimensions."""
    return make_blobs(
        n_samples=100,
        n_features=10,
        centers=4,
        cluster_std=0.5,
        center_box=(-20, 20),
        random_state=0,
    )


# ---------------------------------------------------------------- k-means


def test_kmeans_recovers_blobs(blobs):
    X, y = blobs
    labels = KMeansClusterer(n_clusters=4).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0
    assert labels.min() == 0


def test_kmeans_labels_match_fit_predict(blobs):
    X, _ = blobs
    clusterer = KMeansClusterer(n_clusters=4)
    labels = clusterer.fit_predict(X)
    np.testing.assert_array_equal(clusterer.labels_, labels)
    assert clusterer.cluster_centers_.shape == (4, 10)
    assert clusterer.inertia_ > 0


def test_kmeans_deterministic(rng):
    X = rng.normal(size=(80, 5))
    first = KMeansClusterer(n_clusters=6, random_state=7).fit_predict(X)
    second = clone(KMeansClusterer(n_clusters=6, random_state=7)).fit_predict(X)
    np.testing.assert_array_equal(first, second)


def test_kmeans_k_above_faces_rejected(rng):
    with pytest.raises(ValueError, match=r"n_clusters=11 clusters from 5 faces.*at most 5"):
        KMeansClusterer(n_clusters=11).fit(rng.normal(size=(5, 3)))


def test_kmeans_one_cluster_per_face(rng):
    labels = KMeansClusterer(n_clusters=3).fit_predict(rng.normal(size=(3, 4)))
    assert sorted(labels) == [0, 1, 2]


def test_kmeans_normalize_ignores_vector_length(blobs):
    X, _ = blobs
    lengths = np.linspace(0.1, 10, len(X))[:, None]
    plain = KMeansClusterer(n_clusters=4, normalize=True).fit_predict(X)
    stretched = KMeansClusterer(n_clusters=4, normalize=True).fit_predict(X * lengths)
    assert adjusted_rand_score(plain, stretched) == 1.0


# ---------------------------------------------------------------- HDBSCAN


def test_hdbscan_recovers_blobs(blobs):
    X, y = blobs
    labels = HDBSCANClusterer().fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


def test_hdbscan_marks_outlier_as_noise(blobs):
    X, _ = blobs
    X = np.vstack([X, np.full((1, 10), 500.0)])
    labels = HDBSCANClusterer(normalize=False).fit_predict(X)
    assert labels[-1] == -1
    assert (labels[:-1] >= 0).all()


def test_hdbscan_labels_match_fit_predict(blobs):
    X, _ = blobs
    clusterer = HDBSCANClusterer()
    labels = clusterer.fit_predict(X)
    np.testing.assert_array_equal(clusterer.labels_, labels)
    assert clusterer.probabilities_.shape == (100,)


def test_hdbscan_deterministic(blobs):
    X, _ = blobs
    first = HDBSCANClusterer(min_cluster_size=3).fit_predict(X)
    second = clone(HDBSCANClusterer(min_cluster_size=3)).fit_predict(X)
    np.testing.assert_array_equal(first, second)


def test_hdbscan_one_face_is_noise(rng):
    clusterer = HDBSCANClusterer(min_cluster_size=2)
    labels = clusterer.fit_predict(rng.normal(size=(1, 8)))
    np.testing.assert_array_equal(labels, [-1])
    np.testing.assert_array_equal(clusterer.probabilities_, [0.0])


@pytest.mark.parametrize("allow_single_cluster", [False, True])
def test_hdbscan_two_faces_no_crash(rng, allow_single_cluster):
    labels = HDBSCANClusterer(
        min_cluster_size=2, allow_single_cluster=allow_single_cluster
    ).fit_predict(rng.normal(size=(2, 8)))
    assert labels.shape == (2,)
    assert labels[0] == labels[1]
    assert labels[0] in (-1, 0)


def test_hdbscan_two_faces_single_cluster_allowed(rng):
    labels = HDBSCANClusterer(min_cluster_size=2, allow_single_cluster=True).fit_predict(
        rng.normal(size=(2, 8))
    )
    np.testing.assert_array_equal(labels, [0, 0])


def test_hdbscan_fewer_faces_than_min_cluster_size(rng, caplog):
    with caplog.at_level(logging.INFO, logger="comicfaces.clustering"):
        labels = HDBSCANClusterer(min_cluster_size=5).fit_predict(rng.normal(size=(4, 8)))
    np.testing.assert_array_equal(labels, [-1, -1, -1, -1])
    assert "fewer than min_cluster_size=5" in caplog.text


def test_hdbscan_large_min_samples_lowered(blobs, caplog):
    X, _ = blobs
    with caplog.at_level(logging.WARNING, logger="comicfaces.clustering"):
        labels = HDBSCANClusterer(min_cluster_size=3, min_samples=500).fit_predict(X[:10])
    assert labels.shape == (10,)
    assert "min_samples=500 exceeds the 10 faces" in caplog.text


def test_hdbscan_normalize_ignores_vector_length(blobs):
    X, _ = blobs
    lengths = np.linspace(0.1, 10, len(X))[:, None]
    plain = HDBSCANClusterer(normalize=True).fit_predict(X)
    stretched = HDBSCANClusterer(normalize=True).fit_predict(X * lengths)
    np.testing.assert_array_equal(plain, stretched)


def test_hdbscan_normalize_keeps_zero_rows(blobs):
    X, _ = blobs
    X = np.vstack([X, np.zeros((1, 10))])
    labels = HDBSCANClusterer().fit_predict(X)
    assert labels.shape == (101,)


def test_hdbscan_cosine_metric(blobs):
    X, y = blobs
    labels = HDBSCANClusterer(metric="cosine", normalize=False).fit_predict(X)
    assert adjusted_rand_score(y, labels) > 0.9


def test_hdbscan_epsilon_merges_clusters(blobs):
    X, _ = blobs
    split = HDBSCANClusterer(normalize=False).fit_predict(X)
    merged = HDBSCANClusterer(normalize=False, cluster_selection_epsilon=1000.0).fit_predict(X)
    assert len(set(split) - {-1}) == 4
    assert len(set(merged) - {-1}) < 4


def test_hdbscan_rejects_nan(blobs):
    X, _ = blobs
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HDBSCANClusterer().fit(X)


# ---------------------------------------------------------------- real crops


def test_real_faces_defaults(shared_data):
    # 695 labelled crops of 11 characters; thresholds sit below the measured scores
    # (HOG + HDBSCAN: pairwise F1 0.77 without noise; colour + k-means: 0.52).
    root = shared_data / "comicgen_faces"
    names = sorted(path.name for path in (root / "faces").glob("*.png"))
    images = [load_image(root / "faces" / name) for name in names]
    identities = labels_from_csv(root / "labels.csv", names)

    hog = make_features("hog").fit_transform(images)
    hdbscan_scores = evaluate_clustering(identities, make_clusterer("hdbscan").fit_predict(hog))
    assert hdbscan_scores["pairwise_precision_excl_noise"] > 0.95
    assert hdbscan_scores["pairwise_f1_excl_noise"] > 0.7
    assert hdbscan_scores["coverage"] > 0.9

    colors = make_features("color_hist").fit_transform(images)
    kmeans_labels = make_clusterer("kmeans", n_clusters=11).fit_predict(colors)
    kmeans_scores = evaluate_clustering(identities, kmeans_labels)
    assert kmeans_scores["coverage"] == 1.0
    assert kmeans_scores["pairwise_f1_excl_noise"] > 0.45


# ---------------------------------------------------------------- registry and parameters


def test_registry_names():
    assert CLUSTERERS["kmeans"] is KMeansClusterer
    assert CLUSTERERS["hdbscan"] is HDBSCANClusterer


def test_make_clusterer_passes_params():
    clusterer = make_clusterer("hdbscan", min_cluster_size=3, metric="cosine")
    assert isinstance(clusterer, HDBSCANClusterer)
    assert clusterer.get_params()["min_cluster_size"] == 3
    assert clusterer.get_params()["metric"] == "cosine"


def test_make_clusterer_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="unknown clusterer 'optics'.*hdbscan, kmeans"):
        make_clusterer("optics")


def test_make_clusterer_unknown_param_lists_valid():
    with pytest.raises(ValueError, match="unknown parameter.*k.*n_clusters"):
        make_clusterer("kmeans", k=5)


BAD_PARAMS = [
    ("kmeans", "n_clusters", 0, "n_clusters must be an integer >= 1"),
    ("kmeans", "n_clusters", 2.5, "n_clusters must be an integer >= 1"),
    ("kmeans", "n_init", 0, "n_init must be an integer >= 1"),
    ("kmeans", "n_init", "auto", "n_init must be an integer >= 1"),
    ("kmeans", "random_state", -5, "random_state must be an integer"),
    ("kmeans", "normalize", "no", "normalize must be True or False"),
    ("hdbscan", "min_cluster_size", 1, "min_cluster_size must be an integer >= 2"),
    ("hdbscan", "min_cluster_size", None, "min_cluster_size must be an integer >= 2"),
    ("hdbscan", "min_samples", 0, "min_samples must be an integer >= 1"),
    ("hdbscan", "metric", "precomputed", "metric must be one of"),
    ("hdbscan", "cluster_selection_epsilon", -0.1, "cluster_selection_epsilon must be a number"),
    ("hdbscan", "cluster_selection_epsilon", math.inf, "cluster_selection_epsilon must be a fin"),
    ("hdbscan", "cluster_selection_method", "tree", "cluster_selection_method must be one of"),
    ("hdbscan", "allow_single_cluster", 0, "allow_single_cluster must be True or False"),
    ("hdbscan", "normalize", None, "normalize must be True or False"),
]


@pytest.mark.parametrize(
    "name, field, value, message", BAD_PARAMS, ids=[f"{n}-{f}={v!r}" for n, f, v, _ in BAD_PARAMS]
)
def test_bad_param_rejected_by_make_clusterer(name, field, value, message):
    with pytest.raises(ValueError, match=message):
        make_clusterer(name, **{field: value})


@pytest.mark.parametrize(
    "name, field, value, message", BAD_PARAMS, ids=[f"{n}-{f}={v!r}" for n, f, v, _ in BAD_PARAMS]
)
def test_bad_param_rejected_by_fit(blobs, name, field, value, message):
    X, _ = blobs
    clusterer = CLUSTERERS[name]().set_params(**{field: value})
    with pytest.raises(ValueError, match=message):
        clusterer.fit(X)


@pytest.mark.parametrize(
    "name, changed",
    [("kmeans", {"n_clusters": 11, "n_init": 3}), ("hdbscan", {"min_cluster_size": 3})],
    ids=["kmeans", "hdbscan"],
)
def test_get_set_params_clone(name, changed):
    clusterer = CLUSTERERS[name]()
    params = clusterer.get_params()
    clusterer.set_params(**changed)
    copy = clone(clusterer)
    assert copy is not clusterer
    assert copy.get_params() == {**params, **changed}


@parametrize_with_checks([KMeansClusterer(), HDBSCANClusterer()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
