"""Tests of the approximate rank-order distance and RankOrderClusterer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.estimator_checks import parametrize_with_checks

from comicfaces.clustering import RankOrderClusterer, make_clusterer
from comicfaces.rank_order import rank_order_components, rank_order_distances

# Hand fixture: eight points on the x axis, k = 3. Distances are distinct within
# each point's four nearest points, so the neighbour lists have no ties.
#
#   face:  0    1    2    3    4     5     6     7
#   x:     0    1    2.5  6    10    11.5  13.5  30
#
# Neighbour lists (nearest first, the face itself excluded) and N_a = {a} + list:
#   0: 1 (1.0), 2 (2.5), 3 (6.0)        N0 = {0, 1, 2, 3}
#   1: 0 (1.0), 2 (1.5), 3 (5.0)        N1 = {1, 0, 2, 3}
#   2: 1 (1.5), 0 (2.5), 3 (3.5)        N2 = {2, 1, 0, 3}
#   3: 2 (3.5), 4 (4.0), 1 (5.0)        N3 = {3, 2, 4, 1}
#   4: 5 (1.5), 6 (3.5), 3 (4.0)        N4 = {4, 5, 6, 3}
#   5: 4 (1.5), 6 (2.0), 3 (5.5)        N5 = {5, 4, 6, 3}
#   6: 5 (2.0), 4 (3.5), 3 (7.5)        N6 = {6, 5, 4, 3}
#   7: 6 (16.5), 5 (18.5), 4 (20.0)     N7 = {7, 6, 5, 4}
#
# Mutual pairs (each in the other's list): 0-1, 0-2, 1-2, 1-3, 2-3, 3-4, 4-5,
# 4-6, 5-6. Not mutual: 0-3 (0 not in N3), 5-3, 6-3, and every pair with 7.
#
# d(a, b) counts the faces strictly between a and b in a's list that are not in N_b:
#   0-1: O_0(1) = 1, O_1(0) = 1, nothing between          -> D = 0 / 1 = 0
#   0-2: O_0(2) = 2, between: 1 (in N2) -> d(0,2) = 0
#        O_2(0) = 2, between: 1 (in N0) -> d(2,0) = 0       -> D = 0 / 2 = 0
#   1-2: O_1(2) = 2, between: 0 (in N2) -> 0; O_2(1) = 1    -> D = 0 / 1 = 0
#   1-3: O_1(3) = 3, between: 0 (not in N3), 2 (in N3) -> d(1,3) = 1
#        O_3(1) = 3, between: 2 (in N1), 4 (not in N1) -> d(3,1) = 1
#                                                          -> D = 2 / 3
#   2-3: O_2(3) = 3, between: 1 (in N3), 0 (not in N3) -> d(2,3) = 1
#        O_3(2) = 1, nothing between -> d(3,2) = 0          -> D = 1 / min(3, 1) = 1
#   3-4: O_3(4) = 2, between: 2 (not in N4) -> d(3,4) = 1
#        O_4(3) = 3, between: 5, 6 (neither in N3) -> d(4,3) = 2
#                                                          -> D = 3 / min(2, 3) = 1.5
#   4-5: O_4(5) = 1, O_5(4) = 1                             -> D = 0
#   4-6: O_4(6) = 2, between: 5 (in N6); O_6(4) = 2, between: 5 (in N4) -> D = 0
#   5-6: O_5(6) = 2, between: 4 (in N6); O_6(5) = 1         -> D = 0
#
# Links and components for three thresholds (link when D < threshold):
#   0.5: D = 0 pairs only -> {0, 1, 2}, {3}, {4, 5, 6}, {7}
#   1.0: adds 1-3 (2/3)   -> {0, 1, 2, 3}, {4, 5, 6}, {7}
#   1.6: adds 2-3 and 3-4 -> {0, ..., 6}, {7}
# With min_cluster_size=2 the singletons {3} and {7} are noise.
HAND_X = np.array([[0.0, 0], [1, 0], [2.5, 0], [6, 0], [10, 0], [11.5, 0], [13.5, 0], [30, 0]])

HAND_NEIGHBORS = np.array(
    [[1, 2, 3], [0, 2, 3], [1, 0, 3], [2, 4, 1], [5, 6, 3], [4, 6, 3], [5, 4, 3], [6, 5, 4]]
)


def _hand_clusterer(threshold: float) -> RankOrderClusterer:
    # normalize=False: L2 normalisation would map every point of the x axis to (1, 0).
    return RankOrderClusterer(n_neighbors=3, threshold=threshold, min_cluster_size=2, normalize=False)


def _reference_distances(neighbors: np.ndarray) -> np.ndarray:
    """Loop over pairs with the formula of Otto et al. as written, for comparison."""
    n_samples, k = neighbors.shape
    lists = [[a, *neighbors[a].tolist()] for a in range(n_samples)]
    result = np.full((n_samples, k), np.inf)
    for a in range(n_samples):
        for j, b in enumerate(neighbors[a]):
            if a not in lists[b]:
                continue
            rank_ab = lists[a].index(b)
            rank_ba = lists[b].index(a)
            d_ab = sum(lists[a][i] not in lists[b] for i in range(min(rank_ab, k) + 1))
            d_ba = sum(lists[b][i] not in lists[a] for i in range(min(rank_ba, k) + 1))
            result[a, j] = (d_ab + d_ba) / min(rank_ab, rank_ba)
    return result


# ---------------------------------------------------------------- hand fixture


def test_hand_neighbor_lists():
    clusterer = _hand_clusterer(1.0).fit(HAND_X)
    np.testing.assert_array_equal(clusterer.neighbors_, HAND_NEIGHBORS)


def test_hand_distances():
    distances = _hand_clusterer(1.0).fit(HAND_X).rank_order_distances_
    expected = np.full((8, 3), np.inf)
    expected[0] = [0, 0, np.inf]
    expected[1] = [0, 0, 2 / 3]
    expected[2] = [0, 0, 1]
    expected[3] = [1, 1.5, 2 / 3]
    expected[4] = [0, 0, 1.5]
    expected[5] = [0, 0, np.inf]
    expected[6] = [0, 0, np.inf]
    np.testing.assert_allclose(distances, expected)


@pytest.mark.parametrize(
    "threshold, expected",
    [
        (0.5, [0, 0, 0, -1, 1, 1, 1, -1]),
        (1.0, [0, 0, 0, 0, 1, 1, 1, -1]),
        (1.6, [0, 0, 0, 0, 0, 0, 0, -1]),
    ],
)
def test_hand_clusters(threshold, expected):
    labels = _hand_clusterer(threshold).fit_predict(HAND_X)
    np.testing.assert_array_equal(labels, expected)


def test_hand_threshold_is_strict():
    # D(2, 3) is exactly 1: a threshold of 1 does not link it, only 1-3 (2/3).
    distances = rank_order_distances(HAND_NEIGHBORS)
    components = rank_order_components(HAND_NEIGHBORS, distances, 1.0)
    assert components[2] == components[3]
    assert components[3] != components[4]
    components = rank_order_components(HAND_NEIGHBORS, distances, 2 / 3)
    assert components[1] != components[3]


def test_hand_singletons_kept_with_min_size_one():
    labels = RankOrderClusterer(n_neighbors=3, threshold=0.5, min_cluster_size=1, normalize=False).fit_predict(HAND_X)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 2, 2, 2, 3])


# ---------------------------------------------------------------- distance function


@pytest.mark.parametrize("seed", range(6))
def test_distances_match_reference_loop(seed):
    rng = np.random.default_rng(seed)
    n_samples = int(rng.integers(6, 60))
    k = int(rng.integers(1, min(n_samples - 1, 12) + 1))
    X = rng.normal(size=(n_samples, 3))
    neighbors = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)
    np.testing.assert_array_equal(rank_order_distances(neighbors), _reference_distances(neighbors))


def test_distances_symmetric(rng):
    X = rng.normal(size=(80, 4))
    neighbors = NearestNeighbors(n_neighbors=10).fit(X).kneighbors(return_distance=False)
    distances = rank_order_distances(neighbors)
    dense = np.full((80, 80), np.inf)
    dense[np.repeat(np.arange(80), 10), neighbors.ravel()] = distances.ravel()
    finite = np.isfinite(dense)
    np.testing.assert_array_equal(finite, finite.T)
    np.testing.assert_array_equal(dense[finite], dense.T[finite])


def test_distances_blocked_rows_agree(rng, monkeypatch):
    X = rng.normal(size=(50, 3))
    neighbors = NearestNeighbors(n_neighbors=6).fit(X).kneighbors(return_distance=False)
    whole = rank_order_distances(neighbors)
    # A block of 1 entry forces one row per block.
    monkeypatch.setattr("comicfaces.rank_order._BLOCK_ENTRIES", 1)
    np.testing.assert_array_equal(rank_order_distances(neighbors), whole)


def test_distances_empty_lists():
    assert rank_order_distances(np.empty((3, 0), dtype=int)).shape == (3, 0)


# ---------------------------------------------------------------- clusterer


def test_recovers_blobs():
    X, y = make_blobs(n_samples=150, n_features=8, centers=3, cluster_std=0.5, center_box=(-20, 20), random_state=0)
    labels = RankOrderClusterer(normalize=False).fit_predict(X)
    clustered = labels >= 0
    # A face on a blob's edge may have no mutual neighbour that agrees; it is noise.
    assert clustered.sum() >= 147
    assert adjusted_rand_score(y[clustered], labels[clustered]) == 1.0


def test_min_cluster_size_makes_noise(rng):
    X = rng.normal(size=(60, 5))
    clusterer = RankOrderClusterer(n_neighbors=5, threshold=1.0, min_cluster_size=1).fit(X)
    sizes = np.bincount(clusterer.labels_)
    large = RankOrderClusterer(n_neighbors=5, threshold=1.0, min_cluster_size=3).fit_predict(X)
    assert (sizes < 3).any()
    assert (large == -1).sum() == sizes[sizes < 3].sum()


def test_labels_consecutive_with_noise(rng):
    labels = RankOrderClusterer(n_neighbors=4, threshold=0.8, min_cluster_size=3).fit_predict(rng.normal(size=(70, 6)))
    kept = np.unique(labels[labels >= 0])
    np.testing.assert_array_equal(kept, np.arange(kept.size))


def test_one_face(rng):
    clusterer = RankOrderClusterer(min_cluster_size=1).fit(rng.normal(size=(1, 4)))
    np.testing.assert_array_equal(clusterer.labels_, [0])
    assert clusterer.n_neighbors_ == 0


def test_one_face_noise_by_default(rng):
    np.testing.assert_array_equal(RankOrderClusterer().fit_predict(rng.normal(size=(1, 4))), [-1])


def test_two_faces_are_one_cluster(rng):
    labels = RankOrderClusterer().fit_predict(rng.normal(size=(2, 4)))
    np.testing.assert_array_equal(labels, [0, 0])


def test_neighbors_clipped(rng):
    clusterer = RankOrderClusterer(n_neighbors=20).fit(rng.normal(size=(6, 3)))
    assert clusterer.n_neighbors_ == 5
    assert clusterer.neighbors_.shape == (6, 5)


def test_duplicates_not_own_neighbor():
    X = np.repeat(np.eye(3), 4, axis=0)
    clusterer = RankOrderClusterer(n_neighbors=3, normalize=False).fit(X)
    rows = np.arange(12)[:, None]
    assert not (clusterer.neighbors_ == rows).any()
    np.testing.assert_array_equal(clusterer.labels_, np.repeat([0, 1, 2], 4))


def test_cosine_metric(rng):
    X, y = make_blobs(n_samples=90, n_features=6, centers=3, cluster_std=0.3, center_box=(-10, 10), random_state=2)
    labels = RankOrderClusterer(metric="cosine", normalize=False).fit_predict(X)
    assert adjusted_rand_score(y, labels) > 0.9


def test_deterministic(rng):
    X = rng.normal(size=(70, 5))
    first = RankOrderClusterer(n_neighbors=6).fit_predict(X)
    second = clone(RankOrderClusterer(n_neighbors=6)).fit_predict(X)
    np.testing.assert_array_equal(first, second)


def test_groups_ignored(rng):
    X = rng.normal(size=(30, 4))
    plain = RankOrderClusterer(n_neighbors=5).fit_predict(X)
    grouped = RankOrderClusterer(n_neighbors=5).fit_predict(X, groups=np.zeros(30))
    np.testing.assert_array_equal(plain, grouped)


# ---------------------------------------------------------------- parameters


BAD_PARAMS = [
    ("n_neighbors", 0, "n_neighbors must be an integer >= 1"),
    ("n_neighbors", 2.5, "n_neighbors must be an integer >= 1"),
    ("threshold", 0.0, "threshold must be a number in \\(0.0, inf\\)"),
    ("threshold", math.inf, "threshold must be a finite number"),
    ("threshold", "1.6", "threshold must be a finite number"),
    ("min_cluster_size", 0, "min_cluster_size must be an integer >= 1"),
    ("metric", "chebyshev", "metric must be one of"),
    ("normalize", "yes", "normalize must be True or False"),
]


@pytest.mark.parametrize("field, value, message", BAD_PARAMS, ids=[f"{f}={v!r}" for f, v, _ in BAD_PARAMS])
def test_bad_param_rejected_by_make_clusterer(field, value, message):
    with pytest.raises(ValueError, match=message):
        make_clusterer("rank_order", **{field: value})


@pytest.mark.parametrize("field, value, message", BAD_PARAMS, ids=[f"{f}={v!r}" for f, v, _ in BAD_PARAMS])
def test_bad_param_rejected_by_fit(rng, field, value, message):
    with pytest.raises(ValueError, match=message):
        RankOrderClusterer(**{field: value}).fit(rng.normal(size=(10, 3)))


# All checks run and pass: check_clustering's three standardised blobs of 50
# points are recovered with ARI > 0.4, and labels stay consecutive with noise.
@parametrize_with_checks([RankOrderClusterer()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
