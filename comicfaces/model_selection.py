"""Choice of the number of clusters for methods that need one.

Two criteria are offered. The **silhouette** criterion clusters the faces once
per candidate ``k`` and keeps the ``k`` with the highest mean silhouette
coefficient. The **eigengap** criterion needs no clustering. It builds a
k-nearest-neighbour affinity graph and computes the smallest eigenvalues
``lambda_0 <= lambda_1 <= ...`` of its normalised Laplacian. The chosen ``k`` is
the one after which the gap ``lambda_k - lambda_(k-1)`` is largest, because a
graph of ``c`` separate groups has ``c`` eigenvalues of 0 and then a jump.

:func:`select_n_clusters` returns the chosen ``k`` together with the score of
every candidate, so that a dashboard can plot the curve.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import laplacian
from sklearn.metrics import pairwise_distances, silhouette_score
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import normalize as l2_normalize

from comicfaces.features.validation import check_choice

logger = logging.getLogger(__name__)

#: Candidate numbers of clusters when none are given: 2 to 30.
DEFAULT_K_RANGE = range(2, 31)

SELECTION_METHODS = ("kmeans", "agglomerative", "spectral")
SELECTION_CRITERIA = ("silhouette", "eigengap")

#: Largest number of faces that the silhouette is computed on; larger sets are
#: subsampled, because each score costs O(n^2) distance computations.
MAX_SILHOUETTE_SAMPLES = 5000

#: Up to this many faces the silhouette curve computes the distance matrix once
#: (at most 32 MB of float64) and reuses it for every candidate.
MAX_PRECOMPUTED_SAMPLES = 2000

#: Up to this many faces the Laplacian spectrum comes from a dense eigensolver,
#: which is exact and fast at this size. Larger sets use ARPACK (``eigsh``).
MAX_DENSE_EIGEN_SAMPLES = 1500


@dataclass(frozen=True)
class KSelection:
    """Result of :func:`select_n_clusters`.

    Attributes
    ----------
    n_clusters : int
        Chosen number of clusters.
    curve : dict of int to float
        Score of every candidate ``k`` that was evaluated, in increasing ``k``:
        the mean silhouette coefficient, or the eigengap ``lambda_k - lambda_(k-1)``.
        Empty when no candidate fits the number of faces.
    criterion : str
        ``"silhouette"`` or ``"eigengap"``.
    method : str
        Clustering method the selection was made for.
    """

    n_clusters: int
    curve: dict = field(default_factory=dict)
    criterion: str = "silhouette"
    method: str = "kmeans"


def clip_k_range(k_range: Iterable[int], n_samples: int, criterion: str = "silhouette") -> list[int]:
    """Return the candidate ``k`` values that ``n_samples`` faces allow, sorted.

    The silhouette is defined for ``2 <= k <= n_samples - 1``. The eigengap after
    ``k`` eigenvalues needs eigenvalue ``k``, so ``1 <= k <= n_samples - 1``.

    Raises
    ------
    ValueError
        If ``k_range`` contains something other than integers.
    """
    candidates = list(k_range)
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in candidates):
        raise ValueError(f"k_range must contain integers, got {candidates!r}")
    values = sorted({int(k) for k in candidates})
    low = 2 if criterion == "silhouette" else 1
    return [k for k in values if low <= k <= n_samples - 1]


def best_k(curve: Mapping[int, float]) -> int:
    """Return the ``k`` with the highest score; the smallest such ``k`` on ties."""
    scores = np.array([curve[k] for k in sorted(curve)])
    return sorted(curve)[int(np.argmax(scores))]


def silhouette_curve(
    X: np.ndarray,
    labelings: Mapping[int, np.ndarray],
    metric: str = "euclidean",
    random_state: int | None = 0,
) -> dict[int, float]:
    """Compute the mean silhouette coefficient of each labelling.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features the clustering ran on.
    labelings : mapping of int to ndarray of shape (n_samples,)
        Labels for each candidate ``k``. Labels of -1 (noise) count as a cluster.
    metric : str, default="euclidean"
        Distance of ``sklearn.metrics.pairwise_distances``.
    random_state : int or None, default=0
        Seed for subsampling beyond :data:`MAX_SILHOUETTE_SAMPLES` faces.

    Returns
    -------
    dict of int to float
        Score per ``k``; a labelling with fewer than 2 or more than
        ``n_samples - 1`` distinct labels scores -1, the lowest silhouette.
    """
    n_samples = X.shape[0]
    sample_size = MAX_SILHOUETTE_SAMPLES if n_samples > MAX_SILHOUETTE_SAMPLES else None
    if n_samples <= MAX_PRECOMPUTED_SAMPLES:
        # Rounding can leave tiny negative cosine distances, which sklearn rejects.
        X = np.maximum(pairwise_distances(X, metric=metric), 0.0)
        np.fill_diagonal(X, 0.0)
        metric = "precomputed"

    curve = {}
    for k in sorted(labelings):
        labels = labelings[k]
        n_labels = np.unique(labels).size
        if not 2 <= n_labels <= n_samples - 1:
            curve[k] = -1.0
            continue
        curve[k] = float(
            silhouette_score(X, labels, metric=metric, sample_size=sample_size, random_state=random_state)
        )
    return curve


def knn_affinity(X: np.ndarray, n_neighbors: int, metric: str = "euclidean") -> sparse.csr_matrix:
    """Build the symmetric k-nearest-neighbour affinity of spectral clustering.

    Each face is linked to its ``n_neighbors`` nearest faces, itself included, with
    weight 1, and the graph is symmetrised as ``(A + A.T) / 2``. This is the
    affinity that ``sklearn.cluster.SpectralClustering(affinity="nearest_neighbors")``
    builds. ``n_neighbors`` is lowered to the number of faces.
    """
    n_neighbors = min(n_neighbors, X.shape[0])
    connectivity = kneighbors_graph(X, n_neighbors=n_neighbors, metric=metric, include_self=True)
    return (0.5 * (connectivity + connectivity.T)).tocsr()


def laplacian_spectrum(affinity, n_eigenvalues: int) -> np.ndarray:
    """Return the ``n_eigenvalues`` smallest eigenvalues of the normalised Laplacian.

    Parameters
    ----------
    affinity : sparse matrix or ndarray of shape (n, n)
        Symmetric non-negative affinity.
    n_eigenvalues : int
        Number of eigenvalues, lowered to ``n``.

    Returns
    -------
    ndarray of shape (n_eigenvalues,)
        Eigenvalues of ``L = I - D^(-1/2) A D^(-1/2)`` in increasing order, each in
        ``[0, 2]``.

    Notes
    -----
    Up to :data:`MAX_DENSE_EIGEN_SAMPLES` faces a dense solver costs O(n^3).
    Beyond, ARPACK finds the largest eigenvalues of ``I - L``, which are the
    smallest of ``L`` and converge faster than a smallest-magnitude search.
    """
    n = affinity.shape[0]
    n_eigenvalues = min(n_eigenvalues, n)
    normed = laplacian(sparse.csr_matrix(affinity, dtype=np.float64), normed=True)
    if n <= MAX_DENSE_EIGEN_SAMPLES or n_eigenvalues >= n - 1:
        eigenvalues = np.linalg.eigvalsh(normed.toarray())[:n_eigenvalues]
    else:
        from scipy.sparse.linalg import eigsh

        shifted = sparse.identity(n, format="csr") - normed
        largest = eigsh(shifted, k=n_eigenvalues, which="LA", return_eigenvectors=False)
        eigenvalues = np.sort(1.0 - largest)
    return np.clip(eigenvalues, 0.0, 2.0)


def eigengap_curve(eigenvalues: np.ndarray, k_values: Iterable[int]) -> dict[int, float]:
    """Return ``lambda_k - lambda_(k-1)`` for each ``k``, with 0-based ascending eigenvalues.

    Each ``k`` must satisfy ``1 <= k < len(eigenvalues)``.
    """
    return {int(k): float(eigenvalues[k] - eigenvalues[k - 1]) for k in k_values}


def _space(X: np.ndarray, params: Mapping) -> tuple[np.ndarray, str]:
    """Return the features and metric that a clusterer with ``params`` measures in."""
    X = np.asarray(X, dtype=np.float64)
    if params.get("normalize", False):
        X = l2_normalize(X)
    metric = params.get("metric", "euclidean")
    return X, "cosine" if metric == "cosine" else "euclidean"


def select_n_clusters(
    X,
    method: str = "kmeans",
    k_range: Iterable[int] = DEFAULT_K_RANGE,
    criterion: str = "silhouette",
    *,
    n_neighbors: int = 10,
    random_state: int | None = 0,
    **params,
) -> KSelection:
    """Choose the number of clusters of faces ``X`` for a k-based method.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Face features.
    method : {"kmeans", "agglomerative", "spectral"}, default="kmeans"
        Clusterer of :data:`comicfaces.clustering.CLUSTERERS` that the silhouette
        criterion runs for every candidate. The eigengap criterion does not cluster.
    k_range : iterable of int, default=range(2, 31)
        Candidate numbers of clusters, clipped to what the number of faces allows
        (see :func:`clip_k_range`).
    criterion : {"silhouette", "eigengap"}, default="silhouette"
        ``"silhouette"``: highest mean silhouette coefficient, measured with the
        clusterer's metric on its (normalised, when ``normalize=True``) features.
        ``"eigengap"``: largest gap in the spectrum of the normalised Laplacian of
        the ``n_neighbors``-nearest-neighbour graph.
    n_neighbors : int, default=10
        Neighbours of the affinity graph of the eigengap criterion and of
        ``method="spectral"``.
    random_state : int or None, default=0
        Seed of the clusterers and of silhouette subsampling.
    **params
        Other constructor parameters of the clusterer, such as ``linkage`` or
        ``normalize``. ``n_clusters`` is set for each candidate.

    Returns
    -------
    KSelection
        The chosen ``k`` and the curve. With fewer than 3 faces no candidate
        fits, so ``k`` is 1 (or 0 for no faces) and the curve is empty.

    Raises
    ------
    ValueError
        If ``method`` or ``criterion`` is unknown, or a clusterer parameter is
        invalid.

    Notes
    -----
    The silhouette criterion fits one clustering per candidate and costs
    O(n_samples^2) per silhouette. The eigengap criterion costs one k-NN graph
    and one partial eigendecomposition.
    """
    check_choice("method", method, SELECTION_METHODS)
    check_choice("criterion", criterion, SELECTION_CRITERIA)
    X = np.asarray(X, dtype=np.float64)
    n_samples = X.shape[0]
    k_range = list(k_range)
    k_values = clip_k_range(k_range, n_samples, criterion)
    if not k_values:
        chosen = min(n_samples, 1)
        shown = f"{min(k_range)} to {max(k_range)}" if k_range else "an empty range"
        logger.warning("no candidate number of clusters from %s fits %d faces; using k=%d", shown, n_samples, chosen)
        return KSelection(chosen, {}, criterion, method)

    features, metric = _space(X, params)
    if criterion == "eigengap":
        affinity = knn_affinity(features, n_neighbors, metric)
        eigenvalues = laplacian_spectrum(affinity, max(k_values) + 1)
        curve = eigengap_curve(eigenvalues, k_values)
    else:
        # Imported here because comicfaces.clustering imports this module.
        from comicfaces.clustering import make_clusterer

        if method == "spectral":
            params = {**params, "n_neighbors": n_neighbors}
        if method != "agglomerative":
            # Agglomerative clustering is deterministic and takes no seed.
            params = {**params, "random_state": random_state}
        labelings = {k: make_clusterer(method, n_clusters=k, **params).fit_predict(X) for k in k_values}
        curve = silhouette_curve(features, labelings, metric, random_state)

    chosen = best_k(curve)
    logger.info("%s criterion for %s chose k=%d among %d candidates", criterion, method, chosen, len(curve))
    return KSelection(chosen, curve, criterion, method)
