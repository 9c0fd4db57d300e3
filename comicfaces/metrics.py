"""Scores of a face clustering against labelled character identities.

External scores compare predicted clusters with true identities: pairwise and BCubed
precision, recall and F1, normalised mutual information (NMI) and the adjusted Rand
index (ARI). Internal scores (silhouette, Davies-Bouldin) use only the features.
:func:`evaluate_clustering` computes all of them in one flat dict, with noise faces
(label -1) handled in two explicit ways, and :func:`labels_from_csv` reads identities
from an ``image_name,identity`` CSV.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np
from scipy import sparse
from sklearn.metrics import (
    adjusted_rand_score,
    davies_bouldin_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.metrics.cluster import contingency_matrix

logger = logging.getLogger(__name__)

#: Label of faces that the clusterer assigned to no cluster.
NOISE = -1

#: Largest number of faces that the silhouette is computed on; larger sets are
#: subsampled, because the score costs O(n^2) distance computations.
MAX_SILHOUETTE_SAMPLES = 5000

#: The two noise treatments, as they appear in the keys of evaluate_clustering().
NOISE_VARIANTS = ("excl_noise", "singletons")


@dataclass(frozen=True)
class PairwiseScores:
    """Pair-counting scores over all unordered pairs of faces.

    Attributes
    ----------
    tp : int
        Pairs in the same cluster with the same identity.
    fp : int
        Pairs in the same cluster with different identities.
    fn : int
        Pairs in different clusters with the same identity.
    precision, recall, f1 : float
        ``tp / (tp + fp)``, ``tp / (tp + fn)`` and their harmonic mean.
    """

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class BCubedScores:
    """BCubed precision, recall and F1 (Bagga and Baldwin, 1998)."""

    precision: float
    recall: float
    f1: float


def _harmonic_mean(precision: float, recall: float) -> float:
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _contingency(labels_true, labels_pred) -> sparse.coo_matrix:
    """Return the sparse identity x cluster count matrix of two label arrays."""
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    if labels_true.ndim != 1 or labels_pred.ndim != 1:
        raise ValueError(
            f"labels must be 1-D, got shapes {labels_true.shape} and {labels_pred.shape}"
        )
    if labels_true.shape != labels_pred.shape:
        raise ValueError(
            f"labels_true has {labels_true.size} faces but labels_pred has {labels_pred.size}"
        )
    if labels_true.size == 0:
        raise ValueError("no faces to score: the label arrays are empty")
    return contingency_matrix(labels_true, labels_pred, sparse=True).tocoo()


def _pairs(counts: np.ndarray) -> int:
    """Return the sum of ``count choose 2`` over ``counts``, exactly in int64."""
    counts = np.asarray(counts, dtype=np.int64)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_scores(labels_true, labels_pred) -> PairwiseScores:
    """Compute pairwise precision, recall and F1 of a clustering.

    Over all unordered pairs of faces, a pair is a true positive when both faces
    share a cluster and an identity, a false positive when they share a cluster
    but not an identity, and a false negative when they share an identity but not a
    cluster. Every label, including -1, is an ordinary cluster here; see
    :func:`evaluate_clustering` for noise handling.

    Parameters
    ----------
    labels_true : array-like of shape (n_faces,)
        Identity of each face (ints or strings).
    labels_pred : array-like of shape (n_faces,)
        Cluster of each face.

    Returns
    -------
    PairwiseScores

    Notes
    -----
    With ``n_ij`` faces of identity ``i`` in cluster ``j``, ``a_i`` faces of identity
    ``i`` and ``b_j`` faces in cluster ``j``, ``TP = sum C(n_ij, 2)``,
    ``FP = sum C(b_j, 2) - TP`` and ``FN = sum C(a_i, 2) - TP``. The sparse
    contingency matrix makes this O(n_faces) after sorting, not O(n_faces^2).

    When no pair shares a cluster (all singletons), precision is 1.0, because no
    pair was wrongly merged; likewise recall is 1.0 when no two faces share an
    identity. F1 is 0.0 when precision and recall are both 0.
    """
    table = _contingency(labels_true, labels_pred)
    identity_sizes = np.asarray(table.sum(axis=1)).ravel()
    cluster_sizes = np.asarray(table.sum(axis=0)).ravel()

    tp = _pairs(table.data)
    predicted_pairs = _pairs(cluster_sizes)
    true_pairs = _pairs(identity_sizes)
    fp = predicted_pairs - tp
    fn = true_pairs - tp

    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    return PairwiseScores(
        tp=tp,
        fp=fp,
        fn=fn,
        precision=precision,
        recall=recall,
        f1=_harmonic_mean(precision, recall),
    )


def bcubed_scores(labels_true, labels_pred) -> BCubedScores:
    """Compute BCubed precision, recall and F1 of a clustering.

    A face's BCubed precision is the share of its cluster that has its identity, and
    its recall is the share of its identity that is in its cluster. Both are averaged
    over faces, and F1 is the harmonic mean of the two averages. Every label,
    including -1, is an ordinary cluster here.

    Parameters
    ----------
    labels_true : array-like of shape (n_faces,)
        Identity of each face (ints or strings).
    labels_pred : array-like of shape (n_faces,)
        Cluster of each face.

    Returns
    -------
    BCubedScores

    Notes
    -----
    With the counts of :func:`pairwise_scores` and ``N`` faces,
    ``precision = sum(n_ij^2 / b_j) / N`` and ``recall = sum(n_ij^2 / a_i) / N``,
    computed from the sparse contingency matrix in O(n_faces).
    """
    table = _contingency(labels_true, labels_pred)
    identity_sizes = np.asarray(table.sum(axis=1)).ravel()
    cluster_sizes = np.asarray(table.sum(axis=0)).ravel()
    n_faces = identity_sizes.sum()

    counts = table.data.astype(np.float64)
    precision = float((counts**2 / cluster_sizes[table.col]).sum() / n_faces)
    recall = float((counts**2 / identity_sizes[table.row]).sum() / n_faces)
    return BCubedScores(precision=precision, recall=recall, f1=_harmonic_mean(precision, recall))


def _is_unlabelled(identity) -> bool:
    if identity is None:
        return True
    return isinstance(identity, float) and math.isnan(identity)


def encode_identities(
    labels_true: Iterable, singleton_identities: Iterable[Hashable] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Map identities to integer codes, giving each one-off face its own code.

    Parameters
    ----------
    labels_true : iterable of hashable
        Identity of each face; None or NaN marks an unlabelled face.
    singleton_identities : iterable of hashable, default=()
        Identities, such as ``"extra"`` for one-off background characters, that
        name a kind of face rather than one character. Each face with one of them
        gets a code of its own, so grouping two extras counts as a false merge.

    Returns
    -------
    codes : ndarray of shape (n_faces,), int64
        Identity code of each face; -1 for unlabelled faces.
    labelled : ndarray of shape (n_faces,), bool
        True where the face has an identity.
    """
    singletons = set(singleton_identities)
    code_of: dict[Hashable, int] = {}
    codes = []
    next_code = 0
    for identity in labels_true:
        if _is_unlabelled(identity):
            codes.append(-1)
        elif identity in singletons:
            codes.append(next_code)
            next_code += 1
        else:
            if identity not in code_of:
                code_of[identity] = next_code
                next_code += 1
            codes.append(code_of[identity])

    codes = np.asarray(codes, dtype=np.int64)
    return codes, codes >= 0


def _noise_as_singletons(labels_pred: np.ndarray) -> np.ndarray:
    """Return a copy of ``labels_pred`` with each noise face in a new cluster."""
    labels = labels_pred.copy()
    noise = labels == NOISE
    first_free = labels.max() + 1 if labels.size else 0
    labels[noise] = first_free + np.arange(noise.sum())
    return labels


def _external_scores(codes: np.ndarray, labels_pred: np.ndarray, variant: str) -> dict:
    """Return the external scores of one noise variant, keyed with its suffix."""
    names = (
        "pairwise_precision",
        "pairwise_recall",
        "pairwise_f1",
        "pairwise_tp",
        "pairwise_fp",
        "pairwise_fn",
        "bcubed_precision",
        "bcubed_recall",
        "bcubed_f1",
        "nmi",
        "ari",
    )
    result = {f"n_scored_{variant}": int(codes.size)}
    if codes.size == 0:
        result.update({f"{name}_{variant}": None for name in names})
        return result

    pairwise = pairwise_scores(codes, labels_pred)
    bcubed = bcubed_scores(codes, labels_pred)
    values = (
        pairwise.precision,
        pairwise.recall,
        pairwise.f1,
        pairwise.tp,
        pairwise.fp,
        pairwise.fn,
        bcubed.precision,
        bcubed.recall,
        bcubed.f1,
        float(normalized_mutual_info_score(codes, labels_pred)),
        float(adjusted_rand_score(codes, labels_pred)),
    )
    result.update({f"{name}_{variant}": value for name, value in zip(names, values)})
    return result


def _internal_scores(
    X, labels_pred: np.ndarray, metric: str, random_state: int | None
) -> dict:
    """Return silhouette and Davies-Bouldin on the non-noise faces, or None and a reason."""
    result = {
        "silhouette": None,
        "silhouette_reason": None,
        "davies_bouldin": None,
        "davies_bouldin_reason": None,
    }
    if X is None:
        reason = "no features given"
        result["silhouette_reason"] = result["davies_bouldin_reason"] = reason
        return result

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != labels_pred.size:
        raise ValueError(
            f"X must have shape (n_faces, n_features) with n_faces={labels_pred.size}, "
            f"got {X.shape}"
        )

    clustered = labels_pred != NOISE
    X = X[clustered]
    labels = labels_pred[clustered]
    n_faces = labels.size
    n_clusters = np.unique(labels).size
    if not 2 <= n_clusters < n_faces:
        reason = (
            f"undefined for {n_clusters} cluster(s) on {n_faces} non-noise face(s); "
            "needs at least 2 clusters and fewer clusters than faces"
        )
        result["silhouette_reason"] = result["davies_bouldin_reason"] = reason
        return result

    sample_size = None
    if n_faces > MAX_SILHOUETTE_SAMPLES:
        sample_size = MAX_SILHOUETTE_SAMPLES
        result["silhouette_reason"] = (
            f"estimated on a random sample of {sample_size} of {n_faces} faces"
        )
    result["silhouette"] = float(
        silhouette_score(
            X, labels, metric=metric, sample_size=sample_size, random_state=random_state
        )
    )
    result["davies_bouldin"] = float(davies_bouldin_score(X, labels))
    return result


def evaluate_clustering(
    labels_true: Sequence,
    labels_pred,
    X=None,
    *,
    singleton_identities: Iterable[Hashable] = (),
    silhouette_metric: str = "euclidean",
    random_state: int | None = 0,
) -> dict:
    """Score a clustering against identities, with both treatments of noise.

    Parameters
    ----------
    labels_true : sequence of hashable
        Identity of each face; None (or NaN) marks an unlabelled face, which is
        left out of every external score and counted in ``n_unlabelled``.
    labels_pred : array-like of int, shape (n_faces,)
        Cluster of each face; -1 marks noise.
    X : array-like of shape (n_faces, n_features), optional
        Features the clustering ran on, for the silhouette and Davies-Bouldin
        scores. Those are computed on the non-noise faces, labelled or not.
    singleton_identities : iterable of hashable, default=()
        Identities, such as ``"extra"``, whose faces each count as a character of
        their own; see :func:`encode_identities`.
    silhouette_metric : str, default="euclidean"
        Distance for the silhouette, any metric of ``sklearn.metrics.pairwise``.
        Davies-Bouldin is Euclidean by definition.
    random_state : int or None, default=0
        Seed for subsampling the silhouette beyond :data:`MAX_SILHOUETTE_SAMPLES`
        faces.

    Returns
    -------
    dict
        Flat dict with these keys:

        - ``n_faces``, ``n_labelled``, ``n_unlabelled``, ``n_identities``,
          ``n_singleton_identity_faces``: counts of the input.
        - ``n_clusters`` (excluding noise), ``n_noise`` and ``coverage`` (share of
          all faces not labelled -1).
        - For each suffix ``_excl_noise`` and ``_singletons``: ``n_scored``,
          ``pairwise_precision``, ``pairwise_recall``, ``pairwise_f1``,
          ``pairwise_tp``, ``pairwise_fp``, ``pairwise_fn``, ``bcubed_precision``,
          ``bcubed_recall``, ``bcubed_f1``, ``nmi`` and ``ari``. The
          ``_excl_noise`` variant drops the labelled faces marked as noise. The
          ``_singletons`` variant keeps them, each in a cluster of its own. Values
          are None when no face is left to score.
        - ``silhouette``, ``davies_bouldin`` and ``silhouette_reason``,
          ``davies_bouldin_reason``. A score is None when it is undefined, and its
          reason key then says why.

    Notes
    -----
    Dropping noise rewards a method for declaring hard faces noise: its precision and
    recall are measured on the easy faces only. Read ``_excl_noise`` scores together
    with ``coverage``, or use the ``_singletons`` scores, which charge each noise face
    as an unmatched singleton.
    """
    labels_pred = np.asarray(labels_pred)
    if labels_pred.ndim != 1 or not np.issubdtype(labels_pred.dtype, np.integer):
        raise ValueError(
            f"labels_pred must be a 1-D array of ints, got shape {labels_pred.shape} "
            f"and dtype {labels_pred.dtype}"
        )
    labels_true = list(labels_true)
    if len(labels_true) != labels_pred.size:
        raise ValueError(
            f"labels_true has {len(labels_true)} faces but labels_pred has {labels_pred.size}"
        )

    singleton_identities = set(singleton_identities)
    codes, labelled = encode_identities(labels_true, singleton_identities)
    identities = {identity for identity in labels_true if not _is_unlabelled(identity)}
    noise = labels_pred == NOISE
    n_faces = labels_pred.size

    result = {
        "n_faces": int(n_faces),
        "n_labelled": int(labelled.sum()),
        "n_unlabelled": int((~labelled).sum()),
        "n_identities": len(identities - singleton_identities),
        "n_singleton_identity_faces": sum(
            1 for identity in labels_true if identity in singleton_identities
        ),
        "n_clusters": int(np.unique(labels_pred[~noise]).size),
        "n_noise": int(noise.sum()),
        "coverage": float((~noise).sum() / n_faces) if n_faces else None,
    }

    kept = labelled & ~noise
    result.update(_external_scores(codes[kept], labels_pred[kept], "excl_noise"))

    singletons = _noise_as_singletons(labels_pred)
    result.update(_external_scores(codes[labelled], singletons[labelled], "singletons"))

    result.update(_internal_scores(X, labels_pred, silhouette_metric, random_state))
    return result


def labels_from_csv(
    path: str | Path,
    image_names: Sequence[str | PurePath],
    *,
    strict: bool = True,
    name_column: str = "image_name",
    identity_column: str = "identity",
) -> list[str | None]:
    """Read identities from a CSV and align them with ``image_names``.

    Parameters
    ----------
    path : str or Path
        CSV file with a header row containing ``name_column`` and
        ``identity_column``. Other columns are ignored.
    image_names : sequence of str or PurePath
        Name of each face image, compared with the CSV's names as exact strings
        (after stripping surrounding whitespace).
    strict : bool, default=True
        Raise when a CSV name matches no image. With False, log a warning instead.
    name_column, identity_column : str
        Column headers.

    Returns
    -------
    list of str or None
        Identity of each image, None where the CSV has no row or an empty identity.
        :func:`evaluate_clustering` leaves those faces out and counts them.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a column is missing, one name has two different identities, or (with
        ``strict``) names in the CSV match no image. The last message lists a few
        of those names and a few images without a label.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [column for column in (name_column, identity_column) if column not in columns]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {', '.join(missing)}; the header has "
                f"{', '.join(columns) or 'no columns'}"
            )

        identity_of: dict[str, str | None] = {}
        line_of: dict[str, int] = {}
        for row in reader:
            name = (row[name_column] or "").strip()
            if not name:
                continue
            identity = (row[identity_column] or "").strip() or None
            if name in identity_of and identity_of[name] != identity:
                raise ValueError(
                    f"{path}: {name!r} has identity {identity_of[name]!r} on line "
                    f"{line_of[name]} and {identity!r} on line {reader.line_num}"
                )
            identity_of[name] = identity
            line_of[name] = reader.line_num

    names = [str(name).strip() for name in image_names]
    known = set(names)
    unknown = [name for name in identity_of if name not in known]
    unlabelled = [name for name in names if identity_of.get(name) is None]

    if unknown:
        message = _unmatched_message(path, unknown, len(identity_of), unlabelled, names)
        if strict:
            raise ValueError(message)
        logger.warning("%s", message)
    if unlabelled:
        logger.info("%s: %d of %d images have no identity", path, len(unlabelled), len(names))

    return [identity_of.get(name) for name in names]


def _unmatched_message(
    path: Path, unknown: list[str], n_rows: int, unlabelled: list[str], names: list[str]
) -> str:
    """Describe CSV names that match no image, with examples and a likely cause."""

    def examples(items: list[str]) -> str:
        shown = ", ".join(repr(item) for item in items[:5])
        return shown + (", ..." if len(items) > 5 else "")

    message = (
        f"{path}: {len(unknown)} of {n_rows} names match no image, e.g. {examples(unknown)}; "
        f"{len(unlabelled)} of {len(names)} images have no label"
    )
    if unlabelled:
        message += f", e.g. {examples(unlabelled)}"

    # A common cause is paths on one side and bare file names on the other.
    basenames = {PurePath(name).name for name in names}
    if any(PurePath(name).name in basenames for name in unknown):
        message += (
            ". Some names match an image's file name but not its full name; "
            "pass names in the form the CSV uses"
        )
    return message + ". Names are compared as exact strings; fix the CSV or the image names"
