"""Tests of the clustering scores, noise handling and the identity CSV reader."""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import pytest
from sklearn.metrics import davies_bouldin_score, silhouette_score
from sklearn.metrics.cluster import pair_confusion_matrix

from comicfaces.metrics import (
    bcubed_scores,
    encode_identities,
    evaluate_clustering,
    labels_from_csv,
    pairwise_scores,
)


def brute_force_pairs(labels_true, labels_pred) -> tuple[int, int, int]:
    """Count TP, FP and FN by visiting every unordered pair (reference, O(n^2))."""
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(labels_true)), 2):
        same_cluster = labels_pred[i] == labels_pred[j]
        same_identity = labels_true[i] == labels_true[j]
        tp += same_cluster and same_identity
        fp += same_cluster and not same_identity
        fn += same_identity and not same_cluster
    return tp, fp, fn


def brute_force_bcubed(labels_true, labels_pred) -> tuple[float, float]:
    """Average per-face BCubed precision and recall (reference, O(n^2))."""
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    precisions, recalls = [], []
    for t, p in zip(labels_true, labels_pred):
        both = np.sum((labels_true == t) & (labels_pred == p))
        precisions.append(both / np.sum(labels_pred == p))
        recalls.append(both / np.sum(labels_true == t))
    return float(np.mean(precisions)), float(np.mean(recalls))


# ---------------------------------------------------------------- pairwise


def test_pairwise_hand_example():
    # Identity pairs: (0,1), (0,2), (1,2) of identity 0 and (3,4) of identity 1.
    # Cluster pairs: (0,1) of cluster 0 and (2,3), (2,4), (3,4) of cluster 1.
    # TP = (0,1), (3,4); FP = (2,3), (2,4); FN = (0,2), (1,2).
    scores = pairwise_scores([0, 0, 0, 1, 1], [0, 0, 1, 1, 1])
    assert (scores.tp, scores.fp, scores.fn) == (2, 2, 2)
    assert scores.precision == pytest.approx(0.5)
    assert scores.recall == pytest.approx(0.5)
    assert scores.f1 == pytest.approx(0.5)


def test_pairwise_unbalanced_hand_example():
    # Cluster 0 = {0, 1, 2, 3}: pairs (0,1), (0,2), (1,2) same identity, 3 pairs with face 3
    # differ. Cluster 1 = {4, 5}: one pair, same identity. Identity b = {3, 4, 5}:
    # (3,4), (3,5) are split.
    scores = pairwise_scores(list("aaabbb"), [0, 0, 0, 0, 1, 1])
    assert (scores.tp, scores.fp, scores.fn) == (4, 3, 2)
    assert scores.precision == pytest.approx(4 / 7)
    assert scores.recall == pytest.approx(4 / 6)
    assert scores.f1 == pytest.approx(2 * (4 / 7) * (4 / 6) / (4 / 7 + 4 / 6))


def test_pairwise_perfect_with_renamed_clusters():
    scores = pairwise_scores(["x", "x", "y", "z", "z", "z"], [7, 7, 3, 0, 0, 0])
    assert (scores.precision, scores.recall, scores.f1) == (1.0, 1.0, 1.0)
    assert scores.fp == 0
    assert scores.fn == 0


def test_pairwise_all_in_one_cluster():
    # Precision is the share of same-identity pairs: (3 + 1 + 0) of C(6, 2) = 15.
    scores = pairwise_scores([0, 0, 0, 1, 1, 2], [5] * 6)
    assert scores.precision == pytest.approx(4 / 15)
    assert scores.recall == 1.0
    assert (scores.tp, scores.fp, scores.fn) == (4, 11, 0)


def test_pairwise_all_singletons():
    # No pair is merged, so no pair is wrongly merged: precision 1 by convention.
    scores = pairwise_scores([0, 0, 0, 1, 1], [0, 1, 2, 3, 4])
    assert (scores.tp, scores.fp, scores.fn) == (0, 0, 4)
    assert scores.precision == 1.0
    assert scores.recall == 0.0
    assert scores.f1 == 0.0


def test_pairwise_no_true_pairs_recall_one():
    scores = pairwise_scores([0, 1, 2], [0, 0, 1])
    assert scores.recall == 1.0
    assert scores.precision == 0.0
    assert scores.f1 == 0.0


def test_pairwise_matches_brute_force(rng):
    for _ in range(20):
        n = int(rng.integers(2, 60))
        labels_true = rng.integers(0, 5, n)
        labels_pred = rng.integers(-1, 7, n)
        scores = pairwise_scores(labels_true, labels_pred)
        assert (scores.tp, scores.fp, scores.fn) == brute_force_pairs(labels_true, labels_pred)


def test_pairwise_matches_sklearn_pair_confusion(rng):
    labels_true = rng.integers(0, 8, 500)
    labels_pred = rng.integers(0, 12, 500)
    scores = pairwise_scores(labels_true, labels_pred)

    # sklearn's matrix is [[TN, FP], [FN, TP]] over ordered pairs, twice our counts.
    (_, fp2), (fn2, tp2) = pair_confusion_matrix(labels_true, labels_pred)
    assert (2 * scores.tp, 2 * scores.fp, 2 * scores.fn) == (tp2, fp2, fn2)


def test_pairwise_large_counts_exact():
    # 200,000 faces in one cluster: C(n, 2) = 19,999,900,000 pairs needs int64.
    scores = pairwise_scores(np.zeros(200_000, dtype=int), np.zeros(200_000, dtype=int))
    assert scores.tp == 19_999_900_000


def test_pairwise_length_mismatch():
    with pytest.raises(ValueError, match="labels_true has 3 faces but labels_pred has 2"):
        pairwise_scores([0, 0, 1], [0, 0])


def test_pairwise_empty():
    with pytest.raises(ValueError, match="no faces to score"):
        pairwise_scores([], [])


# ---------------------------------------------------------------- BCubed


def test_bcubed_hand_example():
    # Per-face precision: 1, 1 (cluster {0,1}), 1/3, 2/3, 2/3 (cluster {2,3,4}).
    # Per-face recall: 2/3, 2/3, 1/3 (identity {0,1,2}), 1, 1 (identity {3,4}).
    scores = bcubed_scores([0, 0, 0, 1, 1], [0, 0, 1, 1, 1])
    assert scores.precision == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert scores.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert scores.f1 == pytest.approx(11 / 15)


def test_bcubed_all_in_one_cluster():
    scores = bcubed_scores([0, 0, 0, 1], [0, 0, 0, 0])
    assert scores.precision == pytest.approx((3 * 3 / 4 + 1 / 4) / 4)
    assert scores.recall == 1.0


def test_bcubed_all_singletons():
    scores = bcubed_scores([0, 0, 0, 1], [0, 1, 2, 3])
    assert scores.precision == 1.0
    assert scores.recall == pytest.approx((3 * 1 / 3 + 1) / 4)


def test_bcubed_perfect():
    scores = bcubed_scores(list("aabbbc"), [4, 4, 1, 1, 1, 9])
    assert (scores.precision, scores.recall, scores.f1) == (1.0, 1.0, 1.0)


def test_bcubed_matches_brute_force(rng):
    for _ in range(20):
        n = int(rng.integers(1, 60))
        labels_true = rng.integers(0, 5, n)
        labels_pred = rng.integers(0, 7, n)
        scores = bcubed_scores(labels_true, labels_pred)
        precision, recall = brute_force_bcubed(labels_true, labels_pred)
        assert scores.precision == pytest.approx(precision)
        assert scores.recall == pytest.approx(recall)


# ---------------------------------------------------------------- evaluate_clustering


def test_evaluate_noise_variants_hand_example():
    # Face 2 is noise. Without it the clustering is perfect. As a singleton it
    # splits identity 0: pairs (0,2) and (1,2) become false negatives.
    result = evaluate_clustering([0, 0, 0, 1, 1], [0, 0, -1, 1, 1])
    assert result["coverage"] == pytest.approx(0.8)
    assert result["n_noise"] == 1
    assert result["n_clusters"] == 2

    assert result["n_scored_excl_noise"] == 4
    assert result["pairwise_precision_excl_noise"] == 1.0
    assert result["pairwise_recall_excl_noise"] == 1.0
    assert result["bcubed_f1_excl_noise"] == 1.0
    assert result["ari_excl_noise"] == pytest.approx(1.0)

    assert result["n_scored_singletons"] == 5
    assert (result["pairwise_tp_singletons"], result["pairwise_fp_singletons"]) == (2, 0)
    assert result["pairwise_fn_singletons"] == 2
    assert result["pairwise_recall_singletons"] == pytest.approx(0.5)
    assert result["pairwise_f1_singletons"] == pytest.approx(2 / 3)


def test_evaluate_noise_faces_not_one_cluster():
    # Two noise faces of different identities: as singletons they are not merged.
    result = evaluate_clustering([0, 1, 2, 2], [-1, -1, 0, 0])
    assert result["pairwise_fp_singletons"] == 0
    assert result["pairwise_precision_singletons"] == 1.0


def test_evaluate_all_noise():
    result = evaluate_clustering(["a", "a", "b"], [-1, -1, -1])
    assert result["coverage"] == 0.0
    assert result["n_clusters"] == 0
    assert result["n_scored_excl_noise"] == 0
    assert result["pairwise_f1_excl_noise"] is None
    assert result["bcubed_f1_excl_noise"] is None
    assert result["nmi_excl_noise"] is None
    assert result["pairwise_recall_singletons"] == 0.0
    assert result["silhouette"] is None


def test_evaluate_perfect():
    labels_true = ["pepper"] * 4 + ["carrot"] * 3
    result = evaluate_clustering(labels_true, [1, 1, 1, 1, 0, 0, 0])
    for variant in ("excl_noise", "singletons"):
        assert result[f"pairwise_f1_{variant}"] == 1.0
        assert result[f"bcubed_f1_{variant}"] == 1.0
        assert result[f"nmi_{variant}"] == pytest.approx(1.0)
        assert result[f"ari_{variant}"] == pytest.approx(1.0)


def test_evaluate_unlabelled_faces_excluded():
    # Faces 1 and 4 have no identity; face 1 would otherwise be a false positive.
    result = evaluate_clustering(["a", None, "a", "b", math.nan], [0, 0, 0, 1, 1])
    assert result["n_faces"] == 5
    assert result["n_labelled"] == 3
    assert result["n_unlabelled"] == 2
    assert result["n_scored_excl_noise"] == 3
    assert result["pairwise_precision_excl_noise"] == 1.0
    assert result["pairwise_tp_excl_noise"] == 1


def test_evaluate_coverage_counts_unlabelled_faces():
    result = evaluate_clustering(["a", None, None, None], [0, -1, -1, 0])
    assert result["coverage"] == pytest.approx(0.5)
    assert result["n_noise"] == 2
    assert result["n_scored_singletons"] == 1


def test_evaluate_singleton_identities():
    labels_true = ["a", "a", "extra", "extra", "extra"]
    labels_pred = [0, 0, 1, 1, 2]
    merged = evaluate_clustering(labels_true, labels_pred)
    split = evaluate_clustering(labels_true, labels_pred, singleton_identities=("extra",))

    # As one identity, the extras (2,3) pair is a TP and (2,4), (3,4) are FNs.
    assert merged["pairwise_tp_excl_noise"] == 2
    assert merged["pairwise_fn_excl_noise"] == 2
    # As singletons, the (2,3) pair is a false merge and nothing is missed.
    assert split["pairwise_tp_excl_noise"] == 1
    assert split["pairwise_fp_excl_noise"] == 1
    assert split["pairwise_fn_excl_noise"] == 0
    assert split["n_identities"] == 1
    assert split["n_singleton_identity_faces"] == 3


def test_encode_identities_codes():
    codes, labelled = encode_identities(["b", "extra", None, "b", "extra", "a"], ["extra"])
    np.testing.assert_array_equal(codes, [0, 1, -1, 0, 2, 3])
    np.testing.assert_array_equal(labelled, [True, True, False, True, True, True])


def test_evaluate_integer_identities():
    result = evaluate_clustering(np.array([3, 3, 8]), [0, 0, 1])
    assert result["pairwise_f1_excl_noise"] == 1.0


def test_evaluate_internal_scores_on_non_noise(rng):
    X = rng.normal(size=(12, 4))
    labels_pred = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, -1, -1, 0])
    result = evaluate_clustering([0] * 12, labels_pred, X)
    kept = labels_pred != -1
    assert result["silhouette"] == pytest.approx(silhouette_score(X[kept], labels_pred[kept]))
    assert result["davies_bouldin"] == pytest.approx(
        davies_bouldin_score(X[kept], labels_pred[kept])
    )
    assert result["silhouette_reason"] is None
    assert result["davies_bouldin_reason"] is None


def test_evaluate_internal_scores_without_features():
    result = evaluate_clustering([0, 0, 1], [0, 0, 1])
    assert result["silhouette"] is None
    assert result["davies_bouldin"] is None
    assert result["silhouette_reason"] == "no features given"


def test_evaluate_internal_scores_one_cluster(rng):
    result = evaluate_clustering([0, 0, 1, 1], [0, 0, 0, -1], rng.normal(size=(4, 3)))
    assert result["silhouette"] is None
    assert "1 cluster(s) on 3 non-noise face(s)" in result["silhouette_reason"]
    assert result["davies_bouldin"] is None


def test_evaluate_internal_scores_all_singletons(rng):
    result = evaluate_clustering([0, 1, 2], [0, 1, 2], rng.normal(size=(3, 3)))
    assert result["silhouette"] is None
    assert "fewer clusters than faces" in result["silhouette_reason"]


def test_evaluate_features_shape_mismatch(rng):
    with pytest.raises(ValueError, match=r"n_faces=3, got \(4, 2\)"):
        evaluate_clustering([0, 0, 1], [0, 0, 1], rng.normal(size=(4, 2)))


def test_evaluate_rejects_float_labels():
    with pytest.raises(ValueError, match="1-D array of ints"):
        evaluate_clustering([0, 0, 1], [0.0, 0.5, 1.0])


def test_evaluate_length_mismatch():
    with pytest.raises(ValueError, match="labels_true has 2 faces but labels_pred has 3"):
        evaluate_clustering([0, 0], [0, 0, 1])


def test_evaluate_keys_flat():
    result = evaluate_clustering([0, 0, 1], [0, 0, -1])
    for name in ("pairwise_precision", "pairwise_recall", "pairwise_f1", "bcubed_f1", "nmi", "ari"):
        assert f"{name}_excl_noise" in result
        assert f"{name}_singletons" in result
    assert all(not isinstance(value, (dict, list)) for value in result.values())


# ---------------------------------------------------------------- labels_from_csv


def write_csv(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_aligned_to_image_names(tmp_path):
    path = write_csv(tmp_path, "image_name,identity,style\nb.png,bob,x\na.png,ann,y\nc.png,,z\n")
    assert labels_from_csv(path, ["a.png", "b.png", "c.png", "d.png"]) == ["ann", "bob", None, None]


def test_csv_unlabelled_count_reaches_evaluation(tmp_path):
    path = write_csv(tmp_path, "image_name,identity\na.png,ann\nb.png,ann\n")
    identities = labels_from_csv(path, ["a.png", "b.png", "c.png"])
    result = evaluate_clustering(identities, [0, 0, 1])
    assert result["n_unlabelled"] == 1
    assert result["pairwise_f1_excl_noise"] == 1.0


def test_csv_unknown_names_listed(tmp_path):
    path = write_csv(
        tmp_path, "image_name,identity\na.png,ann\nzz1.png,bob\nzz2.png,bob\n"
    )
    with pytest.raises(ValueError) as error:
        labels_from_csv(path, ["a.png", "b.png"])
    message = str(error.value)
    assert "2 of 3 names match no image" in message
    assert "'zz1.png', 'zz2.png'" in message
    assert "1 of 2 images have no label, e.g. 'b.png'" in message


def test_csv_unknown_names_truncated(tmp_path):
    rows = "".join(f"x{i}.png,bob\n" for i in range(12))
    path = write_csv(tmp_path, "image_name,identity\n" + rows)
    with pytest.raises(ValueError, match=r"12 of 12 names.*'x4.png', \.\.\.") as error:
        labels_from_csv(path, ["a.png"])
    assert "x5.png" not in str(error.value)


def test_csv_path_vs_basename_hint(tmp_path):
    path = write_csv(tmp_path, "image_name,identity\nfaces/a.png,ann\n")
    with pytest.raises(ValueError, match="match an image's file name but not its full name"):
        labels_from_csv(path, ["a.png"])


def test_csv_unknown_names_not_strict(tmp_path, caplog):
    path = write_csv(tmp_path, "image_name,identity\na.png,ann\nzz.png,bob\n")
    with caplog.at_level(logging.WARNING, logger="comicfaces.metrics"):
        identities = labels_from_csv(path, ["a.png"], strict=False)
    assert identities == ["ann"]
    assert "'zz.png'" in caplog.text


def test_csv_missing_column(tmp_path):
    path = write_csv(tmp_path, "file,character\na.png,ann\n")
    with pytest.raises(ValueError, match="missing column.*image_name, identity.*file, character"):
        labels_from_csv(path, ["a.png"])


def test_csv_custom_columns(tmp_path):
    path = write_csv(tmp_path, "file,character\na.png,ann\n")
    assert labels_from_csv(path, ["a.png"], name_column="file", identity_column="character") == [
        "ann"
    ]


def test_csv_conflicting_duplicate(tmp_path):
    path = write_csv(tmp_path, "image_name,identity\na.png,ann\na.png,bob\n")
    message = "'a.png' has identity 'ann' on line 2 and 'bob' on line 3"
    with pytest.raises(ValueError, match=message):
        labels_from_csv(path, ["a.png"])


def test_csv_byte_order_mark_and_spaces(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("image_name,identity\n a.png , ann \n", encoding="utf-8-sig")
    assert labels_from_csv(path, ["a.png"]) == ["ann"]


def test_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        labels_from_csv(tmp_path / "none.csv", ["a.png"])


def test_csv_real_labels(shared_data):
    root = shared_data / "comicgen_faces"
    names = sorted(path.name for path in (root / "faces").glob("*.png"))
    identities = labels_from_csv(root / "labels.csv", names)
    assert len(identities) == 695
    assert None not in identities
    assert len(set(identities)) == 11
