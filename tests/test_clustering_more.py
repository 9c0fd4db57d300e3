"""Tests of the agglomerative, DBSCAN, spectral and random clusterers, of choosing
the number of clusters, and of the full clusterer registry."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from comicfaces.clustering import (
    CLUSTERER_DESCRIPTIONS,
    CLUSTERERS,
    AgglomerativeClusterer,
    DBSCANClusterer,
    KMeansClusterer,
    RandomClusterer,
    SpectralClusterer,
    make_clusterer,
)
from comicfaces.model_selection import (
    clip_k_range,
    eigengap_curve,
    knn_affinity,
    laplacian_spectrum,
    select_n_clusters,
)


def _blobs(n_centers: int, n_samples: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return make_blobs(
        n_samples=n_samples,
        n_features=6,
        centers=n_centers,
        cluster_std=0.4,
        center_box=(-20, 20),
        random_state=seed,
    )


@pytest.fixture
def three_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three well separated groups of 30 points in 6 dimensions."""
    return _blobs(3)


# ---------------------------------------------------------------- agglomerative


@pytest.mark.parametrize("linkage", ["ward", "average", "complete", "single"])
def test_agglomerative_matches_sklearn(rng, linkage):
    X = rng.normal(size=(60, 4))
    ours = AgglomerativeClusterer(n_clusters=7, linkage=linkage, metric="euclidean").fit_predict(X)
    theirs = AgglomerativeClustering(n_clusters=7, linkage=linkage).fit_predict(X)
    assert adjusted_rand_score(ours, theirs) == 1.0
    np.testing.assert_array_equal(np.unique(ours), np.arange(7))


def test_agglomerative_cosine_matches_sklearn(rng):
    X = rng.normal(size=(50, 5))
    ours = AgglomerativeClusterer(n_clusters=5, linkage="average", metric="cosine").fit_predict(X)
    theirs = AgglomerativeClustering(n_clusters=5, linkage="average", metric="cosine").fit_predict(X)
    assert adjusted_rand_score(ours, theirs) == 1.0


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_agglomerative_threshold_matches_sklearn(rng, threshold):
    X = rng.normal(size=(50, 3))
    ours = AgglomerativeClusterer(
        n_clusters=None, distance_threshold=threshold, linkage="average", metric="euclidean"
    ).fit(X)
    theirs = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage="average").fit(X)
    assert ours.n_clusters_ == theirs.n_clusters_
    assert adjusted_rand_score(ours.labels_, theirs.labels_) == 1.0


def test_agglomerative_threshold_is_strict():
    # Points 1 apart merge at height exactly 1; a threshold of 1 keeps them apart.
    X = np.array([[0.0], [1.0]])
    strict = AgglomerativeClusterer(n_clusters=None, distance_threshold=1.0, metric="euclidean").fit(X)
    above = AgglomerativeClusterer(n_clusters=None, distance_threshold=1.0001, metric="euclidean").fit(X)
    assert strict.n_clusters_ == 2
    assert above.n_clusters_ == 1


def test_agglomerative_auto_picks_blob_count():
    X, y = _blobs(4, n_samples=80, seed=3)
    clusterer = AgglomerativeClusterer().fit(X)
    assert clusterer.n_clusters_ == 4
    assert adjusted_rand_score(y, clusterer.labels_) == 1.0
    assert set(clusterer.selection_curve_) == set(range(2, 31))
    assert max(clusterer.selection_curve_, key=clusterer.selection_curve_.get) == 4


def test_agglomerative_auto_range_clipped(rng):
    clusterer = AgglomerativeClusterer(max_clusters=30).fit(rng.normal(size=(6, 3)))
    assert set(clusterer.selection_curve_) == {2, 3, 4, 5}


def test_agglomerative_linkage_matrix(rng):
    clusterer = AgglomerativeClusterer(n_clusters=2).fit(rng.normal(size=(12, 3)))
    assert clusterer.linkage_matrix_.shape == (11, 4)
    assert clusterer.selection_curve_ is None


def test_agglomerative_one_face(rng):
    clusterer = AgglomerativeClusterer().fit(rng.normal(size=(1, 3)))
    np.testing.assert_array_equal(clusterer.labels_, [0])
    assert clusterer.n_clusters_ == 1


def test_agglomerative_two_faces_auto(rng, caplog):
    with caplog.at_level(logging.WARNING, logger="comicfaces.clustering"):
        clusterer = AgglomerativeClusterer().fit(rng.normal(size=(2, 3)))
    np.testing.assert_array_equal(clusterer.labels_, [0, 0])
    assert "no number of clusters from 2 to 30 fits 2 faces" in caplog.text


def test_agglomerative_k_above_faces_rejected(rng):
    with pytest.raises(ValueError, match=r"n_clusters=9 clusters from 4 faces.*at most 4"):
        AgglomerativeClusterer(n_clusters=9).fit(rng.normal(size=(4, 3)))


def test_agglomerative_cosine_zero_row(three_blobs):
    X, _ = three_blobs
    X = np.vstack([X, np.zeros((1, 6))])
    labels = AgglomerativeClusterer(n_clusters=3).fit_predict(X)
    assert labels.shape == (91,)


# ---------------------------------------------------------------- DBSCAN


def test_dbscan_recovers_blobs(three_blobs):
    X, y = three_blobs
    labels = DBSCANClusterer(eps=2.0, normalize=False).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


def test_dbscan_outlier_is_noise(three_blobs):
    X, _ = three_blobs
    X = np.vstack([X, np.full((1, 6), 300.0)])
    clusterer = DBSCANClusterer(eps=2.0, normalize=False).fit(X)
    assert clusterer.labels_[-1] == -1
    assert (clusterer.labels_[:-1] >= 0).all()
    assert 90 not in clusterer.core_sample_indices_


def test_dbscan_min_samples_above_faces_all_noise(rng):
    labels = DBSCANClusterer(min_samples=10).fit_predict(rng.normal(size=(5, 3)))
    np.testing.assert_array_equal(labels, [-1] * 5)


def test_dbscan_cosine(three_blobs):
    X, y = three_blobs
    labels = DBSCANClusterer(eps=0.05, metric="cosine", normalize=False).fit_predict(X)
    assert adjusted_rand_score(y, labels) > 0.9


# ---------------------------------------------------------------- spectral


def test_spectral_eigengap_picks_three(three_blobs):
    X, y = three_blobs
    clusterer = SpectralClusterer().fit(X)
    assert clusterer.n_clusters_ == 3
    assert adjusted_rand_score(y, clusterer.labels_) == 1.0
    # Three separate groups give three eigenvalues of 0 and then a jump.
    np.testing.assert_allclose(clusterer.eigenvalues_[:3], 0.0, atol=1e-8)
    assert clusterer.eigenvalues_[3] > 0.1
    assert clusterer.eigenvalues_.shape == (31,)


def test_spectral_fixed_k(three_blobs):
    X, y = three_blobs
    clusterer = SpectralClusterer(n_clusters=3).fit(X)
    assert adjusted_rand_score(y, clusterer.labels_) == 1.0
    assert clusterer.eigenvalues_ is None
    assert clusterer.selection_curve_ is None


def test_spectral_rbf(three_blobs):
    X, y = three_blobs
    labels = SpectralClusterer(n_clusters=3, affinity="rbf", gamma=0.01).fit_predict(X)
    assert adjusted_rand_score(y, labels) == 1.0


def test_spectral_one_cluster(rng):
    labels = SpectralClusterer(n_clusters=1).fit_predict(rng.normal(size=(5, 3)))
    np.testing.assert_array_equal(labels, [0] * 5)


def test_spectral_two_faces_one_cluster(rng):
    clusterer = SpectralClusterer().fit(rng.normal(size=(2, 3)))
    np.testing.assert_array_equal(clusterer.labels_, [0, 0])


def test_spectral_k_above_faces_rejected(rng):
    with pytest.raises(ValueError, match=r"n_clusters=6 clusters from 5 faces"):
        SpectralClusterer(n_clusters=6).fit(rng.normal(size=(5, 3)))


def test_spectral_deterministic(rng):
    X = rng.normal(size=(40, 4))
    first = SpectralClusterer(n_clusters=4).fit_predict(X)
    second = clone(SpectralClusterer(n_clusters=4)).fit_predict(X)
    np.testing.assert_array_equal(first, second)


# ---------------------------------------------------------------- random baseline


def test_random_balanced_sizes(rng):
    labels = RandomClusterer(n_clusters=4).fit_predict(rng.normal(size=(22, 3)))
    assert sorted(np.bincount(labels).tolist()) == [5, 5, 6, 6]


def test_random_seeded(rng):
    X = rng.normal(size=(30, 3))
    first = RandomClusterer(n_clusters=3, random_state=1).fit_predict(X)
    second = RandomClusterer(n_clusters=3, random_state=1).fit_predict(X)
    other = RandomClusterer(n_clusters=3, random_state=2).fit_predict(X)
    np.testing.assert_array_equal(first, second)
    assert (first != other).any()


def test_random_ignores_structure(three_blobs):
    X, y = three_blobs
    labels = RandomClusterer(n_clusters=3).fit_predict(X)
    assert adjusted_rand_score(y, labels) < 0.2


def test_random_k_above_faces_rejected(rng):
    with pytest.raises(ValueError, match=r"random baseline cannot make n_clusters=8 clusters from 3 faces"):
        RandomClusterer().fit(rng.normal(size=(3, 2)))


# ---------------------------------------------------------------- choosing k


def test_kmeans_auto_picks_blob_count():
    X, y = _blobs(5, n_samples=100, seed=4)
    clusterer = KMeansClusterer(n_clusters="auto", max_clusters=8, n_init=3).fit(X)
    assert clusterer.n_clusters_ == 5
    assert adjusted_rand_score(y, clusterer.labels_) == 1.0
    assert sorted(clusterer.selection_curve_) == [2, 3, 4, 5, 6, 7, 8]


def test_kmeans_fixed_k_has_no_curve(three_blobs):
    X, _ = three_blobs
    clusterer = KMeansClusterer(n_clusters=3).fit(X)
    assert clusterer.n_clusters_ == 3
    assert clusterer.selection_curve_ is None


def test_kmeans_auto_two_faces(rng):
    clusterer = KMeansClusterer(n_clusters="auto").fit(rng.normal(size=(2, 3)))
    assert clusterer.n_clusters_ == 1
    assert clusterer.selection_curve_ == {}


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "spectral"])
def test_select_silhouette_picks_blob_count(method):
    X, _ = _blobs(4, n_samples=80, seed=3)
    selection = select_n_clusters(X, method, range(2, 9), "silhouette")
    assert selection.n_clusters == 4
    assert sorted(selection.curve) == list(range(2, 9))
    assert selection.curve[4] == max(selection.curve.values())


def test_select_eigengap_picks_three(three_blobs):
    X, _ = three_blobs
    selection = select_n_clusters(X, "spectral", criterion="eigengap")
    assert selection.n_clusters == 3
    assert selection.criterion == "eigengap"
    assert sorted(selection.curve) == list(range(2, 31))


def test_select_clips_range(rng):
    selection = select_n_clusters(rng.normal(size=(5, 3)), "kmeans", range(2, 30))
    assert sorted(selection.curve) == [2, 3, 4]


def test_select_too_few_faces(rng, caplog):
    with caplog.at_level(logging.WARNING, logger="comicfaces.model_selection"):
        selection = select_n_clusters(rng.normal(size=(2, 3)))
    assert selection.n_clusters == 1
    assert selection.curve == {}
    assert "no candidate number of clusters" in caplog.text


def test_select_uses_clusterer_params():
    # Silhouette in the normalised space: three directions, lengths varying.
    X, _ = _blobs(3, seed=5)
    X = X * np.linspace(0.5, 5, len(X))[:, None]
    selection = select_n_clusters(X, "agglomerative", range(2, 6), normalize=True, metric="euclidean")
    assert selection.n_clusters == 3


def test_clip_k_range():
    assert clip_k_range([1, 2, 5, 9, 10], 10) == [2, 5, 9]
    assert clip_k_range([1, 2, 3], 4, "eigengap") == [1, 2, 3]


def test_clip_k_range_rejects_floats():
    with pytest.raises(ValueError, match="k_range must contain integers"):
        clip_k_range([2, 3.5], 10)


def test_select_bad_method(rng):
    with pytest.raises(ValueError, match="method must be one of 'kmeans', 'agglomerative', 'spectral'"):
        select_n_clusters(rng.normal(size=(10, 2)), "hdbscan")


def test_select_bad_criterion(rng):
    with pytest.raises(ValueError, match="criterion must be one of 'silhouette', 'eigengap'"):
        select_n_clusters(rng.normal(size=(10, 2)), criterion="elbow")


def test_laplacian_spectrum_dense_and_sparse_agree(monkeypatch, three_blobs):
    X, _ = three_blobs
    affinity = knn_affinity(X, 10)
    dense = laplacian_spectrum(affinity, 6)
    monkeypatch.setattr("comicfaces.model_selection.MAX_DENSE_EIGEN_SAMPLES", 10)
    sparse = laplacian_spectrum(affinity, 6)
    np.testing.assert_allclose(dense, sparse, atol=1e-6)


def test_eigengap_curve_values():
    curve = eigengap_curve(np.array([0.0, 0.0, 0.5, 0.6]), [1, 2, 3])
    assert curve == {1: 0.0, 2: 0.5, 3: pytest.approx(0.1)}


# ---------------------------------------------------------------- registry and parameters


def test_registry_has_descriptions():
    assert set(CLUSTERER_DESCRIPTIONS) == set(CLUSTERERS)
    assert all(isinstance(text, str) and text for text in CLUSTERER_DESCRIPTIONS.values())


@pytest.mark.parametrize("name", sorted(CLUSTERERS))
def test_every_clusterer_accepts_groups(three_blobs, name):
    X, _ = three_blobs
    params = {"n_clusters": 3} if name in ("kmeans", "random", "spectral") else {}
    labels = make_clusterer(name, **params).fit_predict(X, groups=np.arange(90) % 30)
    assert labels.shape == (90,)
    assert labels.min() >= -1


BAD_PARAMS = [
    ("kmeans", "n_clusters", "many", "n_clusters must be an integer >= 1 or 'auto'"),
    ("kmeans", "n_clusters", None, "n_clusters must be an integer >= 1 or 'auto'"),
    ("kmeans", "max_clusters", 1, "max_clusters must be an integer >= 2"),
    ("agglomerative", "n_clusters", 0, "n_clusters must be an integer >= 1 or 'auto' or None"),
    ("agglomerative", "distance_threshold", 0.0, "distance_threshold must be a number in \\(0.0"),
    ("agglomerative", "distance_threshold", math.nan, "distance_threshold must be a finite number"),
    ("agglomerative", "linkage", "centroid", "linkage must be one of"),
    ("agglomerative", "metric", "manhattan", "metric must be one of 'euclidean', 'cosine'"),
    ("agglomerative", "normalize", 1, "normalize must be True or False"),
    ("agglomerative", "max_clusters", 1, "max_clusters must be an integer >= 2"),
    ("dbscan", "eps", 0.0, "eps must be a number in \\(0.0"),
    ("dbscan", "eps", -1.0, "eps must be a number in \\(0.0"),
    ("dbscan", "min_samples", 0, "min_samples must be an integer >= 1"),
    ("dbscan", "metric", "chebyshev", "metric must be one of"),
    ("dbscan", "normalize", None, "normalize must be True or False"),
    ("spectral", "n_clusters", "auto", "n_clusters must be an integer >= 1 or None"),
    ("spectral", "n_clusters", 0, "n_clusters must be an integer >= 1 or None"),
    ("spectral", "affinity", "precomputed", "affinity must be one of"),
    ("spectral", "n_neighbors", 0, "n_neighbors must be an integer >= 1"),
    ("spectral", "gamma", 0.0, "gamma must be a number in \\(0.0"),
    ("spectral", "normalize", "no", "normalize must be True or False"),
    ("spectral", "max_clusters", 1, "max_clusters must be an integer >= 2"),
    ("spectral", "random_state", -1, "random_state must be an integer"),
    ("random", "n_clusters", 0, "n_clusters must be an integer >= 1"),
    ("random", "n_clusters", "auto", "n_clusters must be an integer >= 1"),
    ("random", "random_state", "seed", "random_state must be an integer"),
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
def test_bad_param_rejected_by_fit(three_blobs, name, field, value, message):
    X, _ = three_blobs
    clusterer = CLUSTERERS[name]().set_params(**{field: value})
    with pytest.raises(ValueError, match=message):
        clusterer.fit(X)


EXCLUSIVE_CASES = [
    ({"n_clusters": None, "distance_threshold": None}, "set exactly one of n_clusters and distance_threshold"),
    ({"n_clusters": 3, "distance_threshold": 0.5}, "set exactly one of n_clusters and distance_threshold"),
    ({"n_clusters": "auto", "distance_threshold": 0.5}, "set exactly one of n_clusters and distance_threshold"),
    ({"linkage": "ward", "metric": "cosine"}, "linkage='ward' needs metric='euclidean'"),
]


@pytest.mark.parametrize("params, message", EXCLUSIVE_CASES, ids=["neither", "both", "auto-and-threshold", "ward-cosine"])
def test_agglomerative_inconsistent_params(params, message):
    with pytest.raises(ValueError, match=message):
        make_clusterer("agglomerative", **params)


# RandomClusterer fails check_clustering by design: the check requires an
# adjusted Rand index above 0.4 on three blobs, and random labels score about 0.
# The distance_threshold variant is not checked: scikit-learn's checks set
# n_clusters on every estimator that has it, which makes both parameters set.
@parametrize_with_checks(
    [
        AgglomerativeClusterer(),
        AgglomerativeClusterer(n_clusters=3, linkage="ward", metric="euclidean"),
        DBSCANClusterer(),
        SpectralClusterer(),
        RandomClusterer(),
    ],
    expected_failed_checks=lambda estimator: (
        {"check_clustering": "random labels ignore the data"} if isinstance(estimator, RandomClusterer) else {}
    ),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
