"""Tests of the panel cannot-link constraint: the split, constrained agglomerative
clustering and the CannotLinkSplit wrapper."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

from comicfaces.clustering import AgglomerativeClusterer, CannotLinkSplit, make_clusterer
from comicfaces.constraints import (
    cannot_link_distances,
    encode_groups,
    same_group_pairs,
    split_cannot_link,
)


def _clusters_share_no_group(labels: np.ndarray, groups) -> bool:
    codes = encode_groups(groups, len(labels))
    for cluster in np.unique(labels[labels >= 0]):
        members = codes[labels == cluster]
        if np.unique(members).size != members.size:
            return False
    return True


# ---------------------------------------------------------------- groups


def test_encode_groups_equal_ids():
    codes = encode_groups(["p1", "p2", "p1", 7, 7], 5)
    assert codes[0] == codes[2]
    assert codes[3] == codes[4]
    assert len(set(codes.tolist())) == 3


def test_encode_groups_none_is_unique():
    codes = encode_groups([None, None, "a"], 3)
    assert len(set(codes.tolist())) == 3


def test_encode_groups_length_mismatch():
    with pytest.raises(ValueError, match="groups has 2 entries but there are 3 faces"):
        encode_groups(["a", "b"], 3)


def test_encode_groups_unhashable():
    with pytest.raises(ValueError, match="group 1 is \\['x'\\], which is not hashable"):
        encode_groups(["a", ["x"]], 2)


def test_same_group_pairs_both_orders():
    rows, cols = same_group_pairs(np.array([0, 1, 0, 2, 0]))
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 2), (0, 4), (2, 0), (2, 4), (4, 0), (4, 2)]


def test_cannot_link_distances_penalty(rng):
    X = rng.normal(size=(6, 3))
    distances, max_distance = cannot_link_distances(X, np.array([0, 0, 1, 2, 3, 4]), "euclidean")
    assert distances[0, 1] > 6**2 / 4 * max_distance
    assert distances[1, 0] == distances[0, 1]
    np.testing.assert_allclose(distances[2, 3], np.linalg.norm(X[2] - X[3]))
    assert max_distance == pytest.approx(np.max(np.linalg.norm(X[:, None] - X[None], axis=2)))


# ---------------------------------------------------------------- split_cannot_link


def test_split_keeps_face_nearest_centre():
    # Cluster 0 contains faces 0, 1, 2, and faces 0 and 2 are in panel "a". Face 2
    # is farther from the centre (x = 1) than face 0, so face 2 moves. Cluster 1
    # (faces 3, 4) has centre 10.5 and radius 0.5. Face 2 at x = 3 is outside it,
    # so with "split" it starts a new cluster 2.
    X = np.array([[0.5], [-0.5], [3.0], [10.0], [11.0]])
    labels = split_cannot_link([0, 0, 0, 1, 1], X, ["a", "b", "a", "c", "d"])
    np.testing.assert_array_equal(labels, [0, 0, 2, 1, 1])


def test_split_moves_to_cluster_within_radius():
    # Face 2 (x = 9.8, panel "a") is in cluster 0 by mistake; cluster 1 has centre
    # 10.0 and radius 1.0 and no face of panel "a", so face 2 joins it.
    X = np.array([[0.0], [0.4], [9.8], [9.0], [11.0]])
    labels = split_cannot_link([0, 0, 0, 1, 1], X, ["a", "b", "a", "c", "d"])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])


def test_split_skips_cluster_with_same_group():
    # As above, but cluster 1 already shows panel "a", so face 2 may not join it.
    X = np.array([[0.0], [0.4], [9.8], [9.0], [11.0]])
    labels = split_cannot_link([0, 0, 0, 1, 1], X, ["a", "b", "a", "a", "d"])
    assert labels[2] not in (0, 1)


@pytest.mark.parametrize(
    "unplaced, expected",
    [
        ("split", [0, 0, 0, 1, 1]),
        ("singleton", [0, 0, 0, 1, 2]),
        ("noise", [0, 0, 0, -1, -1]),
    ],
)
def test_split_unplaced_policies(unplaced, expected):
    # Panels a and b each show two faces in one cluster with centre 2.26: faces
    # 0 and 1 are nearer to it and stay, faces 3 and 4 (x = 5, 6) move. There is
    # no other cluster, and the two moved faces come from different panels.
    X = np.array([[0.0], [0.2], [0.1], [5.0], [6.0]])
    groups = ["a", "b", "c", "a", "b"]
    labels = split_cannot_link([0, 0, 0, 0, 0], X, groups, unplaced=unplaced)
    # "split" puts 3 and 4 into one new cluster; "singleton" one cluster each.
    np.testing.assert_array_equal(labels, expected)


def test_split_new_clusters_never_share_group():
    # Four faces of panel "a" in one cluster with centre 4.5: face 1 (x = 5) is
    # nearest and stays. The other three leave, and with "split" each needs a
    # new cluster without another "a" face, numbered in face order.
    X = np.array([[0.0], [5.0], [6.0], [7.0]])
    labels = split_cannot_link([0, 0, 0, 0], X, ["a", "a", "a", "a"])
    np.testing.assert_array_equal(labels, [1, 0, 2, 3])


def test_split_noise_untouched():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    labels = split_cannot_link([-1, -1, 0, 0], X, ["a", "a", "b", "c"])
    np.testing.assert_array_equal(labels, [-1, -1, 0, 0])


def test_split_distinct_groups_unchanged(rng):
    X = rng.normal(size=(40, 5))
    labels = rng.integers(-1, 6, size=40)
    result = split_cannot_link(labels, X, [f"panel{i}" for i in range(40)])
    np.testing.assert_array_equal(result, labels)


def test_split_none_groups_unchanged(rng):
    X = rng.normal(size=(10, 3))
    labels = rng.integers(0, 2, size=10)
    np.testing.assert_array_equal(split_cannot_link(labels, X, [None] * 10), labels)


def test_split_does_not_modify_input(rng):
    labels = np.zeros(6, dtype=int)
    split_cannot_link(labels, rng.normal(size=(6, 2)), ["a"] * 6)
    np.testing.assert_array_equal(labels, np.zeros(6))


@pytest.mark.parametrize("unplaced", ["split", "singleton", "noise"])
@pytest.mark.parametrize("seed", range(15))
def test_split_property_no_shared_group(seed, unplaced):
    rng = np.random.default_rng(seed)
    n_samples = int(rng.integers(5, 80))
    X = rng.normal(size=(n_samples, 3))
    labels = rng.integers(-1, int(rng.integers(1, 8)), size=n_samples)
    groups = rng.integers(0, max(2, n_samples // 3), size=n_samples).tolist()
    result = split_cannot_link(labels, X, groups, unplaced=unplaced)
    assert _clusters_share_no_group(result, groups)
    np.testing.assert_array_equal(result[labels == -1], -1)
    # No input cluster disappears: the face nearest its centre stays.
    assert set(labels[labels >= 0].tolist()) <= set(result.tolist())


@pytest.mark.parametrize("seed", range(5))
def test_split_consecutive_labels_stay_consecutive(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(50, 3))
    labels = rng.permutation(np.arange(50) % 5)
    result = split_cannot_link(labels, X, rng.integers(0, 10, size=50).tolist())
    np.testing.assert_array_equal(np.unique(result), np.arange(result.max() + 1))


def test_split_bad_unplaced():
    with pytest.raises(ValueError, match="unplaced must be one of"):
        split_cannot_link([0], np.zeros((1, 2)), ["a"], unplaced="drop")


def test_split_bad_label_length():
    with pytest.raises(ValueError, match="labels has 2 entries but X has 3 rows"):
        split_cannot_link([0, 0], np.zeros((3, 2)), ["a", "b", "c"])


def test_split_bad_label_values():
    with pytest.raises(ValueError, match="labels must be >= -1"):
        split_cannot_link([0, -2], np.zeros((2, 2)), ["a", "b"])


def test_split_float_labels_rejected():
    with pytest.raises(ValueError, match="labels must be a 1-D array of ints"):
        split_cannot_link([0.0, 1.0], np.zeros((2, 2)), ["a", "b"])


# ---------------------------------------------------------------- constrained agglomerative


@pytest.mark.parametrize("linkage", ["average", "complete"])
@pytest.mark.parametrize("seed", range(8))
def test_agglomerative_property_no_shared_group(seed, linkage):
    rng = np.random.default_rng(seed)
    n_samples = int(rng.integers(6, 60))
    X = rng.normal(size=(n_samples, 4))
    groups = rng.integers(0, max(2, n_samples // 3), size=n_samples).tolist()
    for params in ({"n_clusters": 2}, {"n_clusters": None, "distance_threshold": 10.0}, {"n_clusters": "auto"}):
        clusterer = AgglomerativeClusterer(linkage=linkage, metric="euclidean", cannot_link=True, **params)
        labels = clusterer.fit_predict(X, groups=groups)
        assert _clusters_share_no_group(labels, groups), params


def test_agglomerative_distinct_groups_match_unconstrained(rng):
    X = rng.normal(size=(40, 5))
    plain = AgglomerativeClusterer(n_clusters=6).fit_predict(X)
    constrained = AgglomerativeClusterer(n_clusters=6, cannot_link=True).fit_predict(X, groups=list(range(40)))
    np.testing.assert_array_equal(plain, constrained)


def test_agglomerative_constraint_separates_pair():
    # Two tight pairs far apart, and faces 0 and 1 share a panel. Unconstrained,
    # 2 clusters would be {0, 1} and {2, 3}. Constrained, face 1 (average
    # distance 9.95 to {2, 3}) joins the far pair instead.
    X = np.array([[0.0, 0], [0.1, 0], [10, 0], [10.1, 0]])
    labels = AgglomerativeClusterer(n_clusters=2, metric="euclidean", cannot_link=True).fit_predict(
        X, groups=["p", "p", "q", "r"]
    )
    np.testing.assert_array_equal(labels, [0, 1, 1, 1])


def test_agglomerative_too_few_clusters_warns(caplog):
    # Three faces of one panel need at least three clusters.
    X = np.array([[0.0], [0.1], [0.2], [5.0]])
    with caplog.at_level(logging.WARNING, logger="comicfaces.clustering"):
        clusterer = AgglomerativeClusterer(n_clusters=1, metric="euclidean", cannot_link=True)
        labels = clusterer.fit_predict(X, groups=["a", "a", "a", "b"])
    assert clusterer.n_clusters_ == 3
    assert len(set(labels[:3].tolist())) == 3
    assert "allows no fewer than 3 clusters" in caplog.text


def test_agglomerative_cannot_link_without_groups_logs(rng, caplog):
    X = rng.normal(size=(10, 3))
    with caplog.at_level(logging.INFO, logger="comicfaces.clustering"):
        labels = AgglomerativeClusterer(n_clusters=3, cannot_link=True).fit_predict(X)
    plain = AgglomerativeClusterer(n_clusters=3).fit_predict(X)
    np.testing.assert_array_equal(labels, plain)
    assert "no groups (panels) were passed" in caplog.text


def test_agglomerative_groups_ignored_without_cannot_link(rng):
    X = rng.normal(size=(12, 3))
    plain = AgglomerativeClusterer(n_clusters=3).fit_predict(X)
    grouped = AgglomerativeClusterer(n_clusters=3).fit_predict(X, groups=["a"] * 12)
    np.testing.assert_array_equal(plain, grouped)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"linkage": "ward", "metric": "euclidean"}, "cannot_link=True needs linkage='average' or 'complete'"),
        ({"linkage": "single"}, "cannot_link=True needs linkage='average' or 'complete'"),
        ({"cannot_link": "yes"}, "cannot_link must be True or False"),
    ],
    ids=["ward", "single", "not-bool"],
)
def test_agglomerative_bad_cannot_link(params, message):
    with pytest.raises(ValueError, match=message):
        make_clusterer("agglomerative", **{"cannot_link": True, **params})


# ---------------------------------------------------------------- CannotLinkSplit


def test_wrapper_no_shared_group():
    X, _ = make_blobs(n_samples=60, n_features=4, centers=3, cluster_std=0.5, random_state=0)
    groups = np.repeat(np.arange(20), 3).tolist()
    clusterer = CannotLinkSplit(base="kmeans", base_params={"n_clusters": 3}).fit(X, groups=groups)
    assert _clusters_share_no_group(clusterer.labels_, groups)
    assert clusterer.n_moved_ == int((clusterer.labels_ != clusterer.base_labels_).sum())
    assert clusterer.base_estimator_.n_clusters_ == 3


def test_wrapper_matches_function(rng):
    X = rng.normal(size=(40, 4))
    groups = rng.integers(0, 8, size=40).tolist()
    clusterer = CannotLinkSplit(base="kmeans", base_params={"n_clusters": 4}, unplaced="singleton").fit(X, groups=groups)
    expected = split_cannot_link(clusterer.base_labels_, X, groups, unplaced="singleton")
    np.testing.assert_array_equal(clusterer.labels_, expected)


def test_wrapper_without_groups_keeps_base(rng, caplog):
    X = rng.normal(size=(30, 4))
    with caplog.at_level(logging.WARNING, logger="comicfaces.clustering"):
        clusterer = CannotLinkSplit(base="kmeans", base_params={"n_clusters": 3}).fit(X)
    np.testing.assert_array_equal(clusterer.labels_, clusterer.base_labels_)
    assert clusterer.n_moved_ == 0
    assert "no groups were passed" in caplog.text


def test_wrapper_passes_groups_to_base(rng):
    X = rng.normal(size=(30, 4))
    groups = rng.integers(0, 6, size=30).tolist()
    clusterer = CannotLinkSplit(
        base="agglomerative", base_params={"n_clusters": 4, "cannot_link": True}
    ).fit(X, groups=groups)
    assert _clusters_share_no_group(clusterer.base_labels_, groups)
    assert clusterer.n_moved_ == 0


def test_wrapper_clone_keeps_params():
    clusterer = CannotLinkSplit(base="dbscan", base_params={"eps": 0.3}, unplaced="noise")
    copy = clone(clusterer)
    assert copy.get_params() == {"base": "dbscan", "base_params": {"eps": 0.3}, "unplaced": "noise"}
    assert copy.base_params is not clusterer.base_params


BAD_WRAPPER_PARAMS = [
    ({"base": "cannot_link"}, "base must be one of"),
    ({"base": "nope"}, "base must be one of"),
    ({"base_params": [("n_clusters", 3)]}, "base_params must be a dict"),
    ({"base": "kmeans", "base_params": {"k": 3}}, "unknown parameter.*k.*for clusterer 'kmeans'"),
    ({"base": "kmeans", "base_params": {"n_clusters": 0}}, "n_clusters must be an integer >= 1"),
    ({"unplaced": "drop"}, "unplaced must be one of"),
]


@pytest.mark.parametrize(
    "params, message", BAD_WRAPPER_PARAMS, ids=["self", "unknown-base", "list", "unknown-param", "bad-value", "unplaced"]
)
def test_wrapper_bad_param_rejected_by_make_clusterer(params, message):
    with pytest.raises(ValueError, match=message):
        make_clusterer("cannot_link", **params)


@pytest.mark.parametrize(
    "params, message", BAD_WRAPPER_PARAMS, ids=["self", "unknown-base", "list", "unknown-param", "bad-value", "unplaced"]
)
def test_wrapper_bad_param_rejected_by_fit(rng, params, message):
    with pytest.raises(ValueError, match=message):
        CannotLinkSplit(**params).fit(rng.normal(size=(10, 3)))


# ---------------------------------------------------------------- real pages


def test_real_panels_constraint_holds(shared_data):
    # Pepper&Carrot faces with page as the group: the constrained tree must keep
    # faces of one page apart, whatever the features.
    from comicfaces.annotations import load_face_annotations
    from comicfaces.features import make_features
    from comicfaces.imageio import load_image

    pages = load_face_annotations(shared_data / "peppercarrot" / "annotations" / "faces_ep01-06.json")
    crops, groups = [], []
    for name, truth in list(pages.items())[:6]:
        image = load_image(truth.path)
        for box, ignore in zip(truth.boxes.astype(int), truth.ignore):
            if not ignore:
                crops.append(image[box[1] : box[3], box[0] : box[2]])
                groups.append(name)
    X = make_features("color_hist").fit_transform(crops)
    labels = AgglomerativeClusterer(n_clusters="auto", cannot_link=True).fit_predict(X, groups=groups)
    assert len(crops) > 20
    assert _clusters_share_no_group(labels, groups)


# check_estimator does not pass groups, so these runs check the estimator
# contract of the constrained code paths without any constraint. The split's
# effect is covered by the tests above.
@parametrize_with_checks(
    [
        AgglomerativeClusterer(n_clusters=3, cannot_link=True),
        CannotLinkSplit(),
        CannotLinkSplit(base="agglomerative", base_params={"n_clusters": 3, "cannot_link": True}),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
