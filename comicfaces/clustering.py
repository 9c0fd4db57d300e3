"""Clustering of face feature vectors into characters.

Every clusterer is a scikit-learn estimator with ``fit(X, y=None, groups=None)``,
``fit_predict(X, y=None, groups=None)`` and a fitted ``labels_`` array of ints.
Clusters are numbered ``0 .. k-1`` and ``-1`` marks noise, a face that the method
assigns to no character. ``groups`` gives the panel of each face to the methods
that use cannot-link constraints (see :mod:`comicfaces.constraints`). The others
ignore it, so a pipeline can pass it to any clusterer. :data:`CLUSTERERS` maps the
names used by the CLI and configuration files to classes, :func:`make_clusterer`
builds one by name, and :data:`CLUSTERER_DESCRIPTIONS` describes each in one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numbers

import numpy as np
from scipy.cluster.hierarchy import cut_tree, fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import DBSCAN, KMeans, SpectralClustering
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.utils import check_random_state as make_random_state
from sklearn.utils.validation import validate_data

from comicfaces.constraints import UNPLACED_POLICIES, cannot_link_distances, encode_groups, split_cannot_link
from comicfaces.features.registry import make_estimator
from comicfaces.features.validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_random_state,
)
from comicfaces.model_selection import (
    best_k,
    eigengap_curve,
    knn_affinity,
    laplacian_spectrum,
    select_n_clusters,
    silhouette_curve,
)
from comicfaces.rank_order import rank_order_components, rank_order_distances

logger = logging.getLogger(__name__)

#: Label of faces that belong to no cluster.
NOISE = -1

HDBSCAN_METRICS = ("euclidean", "manhattan", "chebyshev", "cosine")
CLUSTER_SELECTION_METHODS = ("eom", "leaf")
LINKAGES = ("ward", "average", "complete", "single")
AGGLOMERATIVE_METRICS = ("euclidean", "cosine")
DBSCAN_METRICS = ("euclidean", "manhattan", "cosine")
SPECTRAL_AFFINITIES = ("nearest_neighbors", "rbf")
RANK_ORDER_METRICS = ("euclidean", "manhattan", "cosine")

#: Value of ``n_clusters`` that makes k-means and agglomerative clustering choose
#: the number of clusters by the silhouette criterion.
AUTO = "auto"


def _prepare(estimator: BaseEstimator, X, normalize: bool) -> np.ndarray:
    """Validate ``X`` (sets ``n_features_in_``) and L2-normalise rows on request."""
    X = validate_data(estimator, X, dtype=[np.float64, np.float32])
    if normalize:
        # Rows of zeros (a blank crop) stay zero instead of becoming NaN.
        X = l2_normalize(X, norm="l2")
    return X


def _check_n_clusters(value, *, allow_auto: bool = False, allow_none: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= 1 or one of the allowed words."""
    if allow_auto and isinstance(value, str) and value == AUTO:
        return
    if allow_none and value is None:
        return
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < 1:
        extra = "".join([" or 'auto'" if allow_auto else "", " or None" if allow_none else ""])
        raise ValueError(f"n_clusters must be an integer >= 1{extra}, got {value!r}")


def _check_too_many_clusters(method: str, n_clusters: int, n_samples: int) -> None:
    if n_clusters > n_samples:
        raise ValueError(
            f"{method} cannot make n_clusters={n_clusters} clusters from "
            f"{n_samples} faces (n_samples={n_samples}); set n_clusters to at most "
            f"{n_samples}"
        )


def _auto_k_range(max_clusters: int) -> range:
    return range(2, max_clusters + 1)


def _consecutive(labels: np.ndarray) -> np.ndarray:
    """Renumber non-noise labels to ``0 .. k-1`` in order of first appearance; keep -1."""
    labels = np.asarray(labels)
    result = np.full(labels.shape, NOISE, dtype=np.intp)
    kept = labels != NOISE
    _, first, inverse = np.unique(labels[kept], return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.intp)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    result[kept] = rank[inverse]
    return result


@dataclass(frozen=True)
class KMeansConfig:
    """Parameters of :class:`KMeansClusterer`."""

    n_clusters: int | str = 8
    n_init: int = 10
    random_state: int | None = 0
    normalize: bool = False
    max_clusters: int = 30

    def validate(self) -> KMeansConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        _check_n_clusters(self.n_clusters, allow_auto=True)
        check_int("n_init", self.n_init, 1)
        check_random_state("random_state", self.random_state)
        check_bool("normalize", self.normalize)
        check_int("max_clusters", self.max_clusters, 2)
        return self


class KMeansClusterer(ClusterMixin, BaseEstimator):
    """k-means with a fixed number of characters; every face gets a cluster.

    Parameters
    ----------
    n_clusters : int or "auto", default=8
        Number of clusters, at most the number of faces. ``"auto"`` tries every
        ``k`` from 2 to ``max_clusters`` (and below the number of faces) and keeps
        the one with the highest mean silhouette coefficient.
    n_init : int, default=10
        Number of k-means++ restarts; the run with the lowest inertia is kept.
    random_state : int or None, default=0
        Seed of the initialisation.
    normalize : bool, default=False
        L2-normalise each feature vector first, which makes Euclidean distance a
        monotone function of cosine distance.
    max_clusters : int, default=30
        Largest ``k`` tried when ``n_clusters="auto"``; at least 2.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each face, ``0 .. n_clusters_-1``; never ``-1``. When ``X`` has
        fewer distinct rows than ``n_clusters``, fewer clusters are used and
        scikit-learn emits a ``ConvergenceWarning``.
    n_clusters_ : int
        Number of clusters used: ``n_clusters`` or the chosen one.
    selection_curve_ : dict of int to float or None
        Mean silhouette per tried ``k`` when ``n_clusters="auto"``, else None.
    cluster_centers_ : ndarray of shape (n_clusters_, n_features)
        Centroids in the (normalised, when requested) feature space.
    inertia_ : float
        Sum of squared distances of faces to their centroid.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    Lloyd iterations cost O(n_samples * n_clusters * n_features) each, times ``n_init``.
    ``"auto"`` runs k-means once per candidate and one silhouette, O(n_samples^2),
    per candidate. With fewer than 3 faces no candidate fits and one cluster is used.
    """

    def __init__(
        self,
        n_clusters=KMeansConfig.n_clusters,
        n_init=KMeansConfig.n_init,
        random_state=KMeansConfig.random_state,
        normalize=KMeansConfig.normalize,
        max_clusters=KMeansConfig.max_clusters,
    ):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state
        self.normalize = normalize
        self.max_clusters = max_clusters

    def get_config(self) -> KMeansConfig:
        """Return the parameters as a validated :class:`KMeansConfig`."""
        return KMeansConfig(**self.get_params()).validate()

    def fit(self, X, y=None, groups=None):
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        groups : sequence, optional
            Ignored; accepted so that every clusterer takes panel ids.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter is invalid or ``n_clusters`` exceeds the number of faces.
        """
        config = self.get_config()
        X = _prepare(self, X, config.normalize)
        n_samples = X.shape[0]

        n_clusters = config.n_clusters
        self.selection_curve_ = None
        if n_clusters == AUTO:
            selection = select_n_clusters(
                X,
                "kmeans",
                _auto_k_range(config.max_clusters),
                "silhouette",
                random_state=config.random_state,
                n_init=config.n_init,
            )
            n_clusters = max(selection.n_clusters, 1)
            self.selection_curve_ = selection.curve
        _check_too_many_clusters("k-means", n_clusters, n_samples)

        model = KMeans(n_clusters=n_clusters, n_init=config.n_init, random_state=config.random_state).fit(X)
        self.labels_ = model.labels_.astype(np.intp)
        self.n_clusters_ = int(n_clusters)
        self.cluster_centers_ = model.cluster_centers_
        self.inertia_ = float(model.inertia_)
        logger.info("k-means: %d faces in %d clusters", n_samples, n_clusters)
        return self


@dataclass(frozen=True)
class HDBSCANConfig:
    """Parameters of :class:`HDBSCANClusterer`."""

    min_cluster_size: int = 4
    min_samples: int | None = None
    metric: str = "euclidean"
    cluster_selection_epsilon: float = 0.0
    cluster_selection_method: str = "eom"
    allow_single_cluster: bool = False
    normalize: bool = True

    def validate(self) -> HDBSCANConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("min_cluster_size", self.min_cluster_size, 2)
        if self.min_samples is not None:
            check_int("min_samples", self.min_samples, 1)
        check_choice("metric", self.metric, HDBSCAN_METRICS)
        check_float("cluster_selection_epsilon", self.cluster_selection_epsilon, 0.0)
        check_choice(
            "cluster_selection_method", self.cluster_selection_method, CLUSTER_SELECTION_METHODS
        )
        check_bool("allow_single_cluster", self.allow_single_cluster)
        check_bool("normalize", self.normalize)
        return self


class HDBSCANClusterer(ClusterMixin, BaseEstimator):
    """HDBSCAN: finds the number of characters itself and leaves outliers as noise.

    Runs ``hdbscan.HDBSCAN`` from the ``hdbscan`` package.

    Parameters
    ----------
    min_cluster_size : int, default=4
        Smallest group of faces that counts as a character; smaller groups become
        noise. At least 2. A character drawn fewer times than this is not found.
    min_samples : int or None, default=None
        Neighbours that define a face's core distance; None uses ``min_cluster_size``.
        Larger values declare more faces noise.
    metric : {"euclidean", "manhattan", "chebyshev", "cosine"}, default="euclidean"
        Distance between feature vectors. ``"cosine"`` computes all pairwise
        distances, O(n_samples^2) memory.
    cluster_selection_epsilon : float, default=0.0
        Clusters closer than this distance are merged.
    cluster_selection_method : {"eom", "leaf"}, default="eom"
        ``"eom"`` (excess of mass) picks the most persistent clusters, ``"leaf"`` the
        finest ones.
    allow_single_cluster : bool, default=False
        Allow the result to be one cluster of all non-noise faces.
    normalize : bool, default=True
        L2-normalise each feature vector first, so Euclidean distance orders pairs
        as cosine distance does and crops with weak or strong contrast compare.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each face, or -1 for noise.
    probabilities_ : ndarray of shape (n_samples,)
        Strength of each face's membership in its cluster, 0 for noise.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    The defaults were chosen on two labelled sets (695 cartoon crops of 11 characters,
    and 210 Pepper&Carrot faces of 15 characters plus one-off extras), with HOG and
    colour-histogram features. Among sizes 3 to 5 and ``min_samples`` None, 1, 2 or
    3, ``min_cluster_size=4`` with ``min_samples=None`` had a mean BCubed F1 (noise
    counted as singletons) within 0.001 of the best, size 5 with ``min_samples=2``,
    and still finds characters drawn 4 times. ``normalize=True`` scored as well or
    better on all four combinations, most on colour histograms of Pepper&Carrot
    (BCubed F1 0.47 against 0.31). NOTE: neither feature separates the
    Pepper&Carrot characters well, so the defaults rest mostly on the cartoon set.

    Fewer faces than ``min_cluster_size`` cannot form a cluster, so such input is all
    noise without running HDBSCAN. A ``min_samples`` larger than the number of faces
    is lowered to that number with a logged warning. With a tree-based metric the
    cost is roughly O(n_samples log n_samples) for low-dimensional features and
    approaches O(n_samples^2) for high-dimensional ones such as HOG.

    The ``hdbscan`` package is used instead of ``sklearn.cluster.HDBSCAN`` because the
    latter raises ``TypeError`` for some non-zero ``cluster_selection_epsilon``
    values with NumPy 2 (seen with scikit-learn 1.9.1 and NumPy 2.4, scikit-learn
    issue 33219). The package also offers ``approximate_predict`` for assigning new
    faces to existing clusters.
    """

    def __init__(
        self,
        min_cluster_size=HDBSCANConfig.min_cluster_size,
        min_samples=HDBSCANConfig.min_samples,
        metric=HDBSCANConfig.metric,
        cluster_selection_epsilon=HDBSCANConfig.cluster_selection_epsilon,
        cluster_selection_method=HDBSCANConfig.cluster_selection_method,
        allow_single_cluster=HDBSCANConfig.allow_single_cluster,
        normalize=HDBSCANConfig.normalize,
    ):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.metric = metric
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.cluster_selection_method = cluster_selection_method
        self.allow_single_cluster = allow_single_cluster
        self.normalize = normalize

    def get_config(self) -> HDBSCANConfig:
        """Return the parameters as a validated :class:`HDBSCANConfig`."""
        return HDBSCANConfig(**self.get_params()).validate()

    def fit(self, X, y=None, groups=None):
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        groups : sequence, optional
            Ignored; accepted so that every clusterer takes panel ids.

        Returns
        -------
        self
        """
        config = self.get_config()
        X = _prepare(self, X, config.normalize)
        n_samples = X.shape[0]

        if n_samples < config.min_cluster_size:
            logger.info(
                "HDBSCAN: %d faces are fewer than min_cluster_size=%d; all are noise",
                n_samples,
                config.min_cluster_size,
            )
            self.labels_ = np.full(n_samples, NOISE, dtype=np.intp)
            self.probabilities_ = np.zeros(n_samples)
            return self

        min_samples = config.min_samples
        if min_samples is not None and min_samples > n_samples:
            logger.warning(
                "HDBSCAN min_samples=%d exceeds the %d faces; using min_samples=%d",
                min_samples,
                n_samples,
                n_samples,
            )
            min_samples = n_samples

        import hdbscan

        # The package's KD-tree and ball-tree algorithms do not support cosine
        # distance; "generic" computes the full distance matrix instead.
        algorithm = "generic" if config.metric == "cosine" else "best"
        model = hdbscan.HDBSCAN(
            min_cluster_size=config.min_cluster_size,
            min_samples=min_samples,
            metric=config.metric,
            algorithm=algorithm,
            cluster_selection_epsilon=float(config.cluster_selection_epsilon),
            cluster_selection_method=config.cluster_selection_method,
            allow_single_cluster=config.allow_single_cluster,
        ).fit(X.astype(np.float64, copy=False))

        self.labels_ = model.labels_.astype(np.intp)
        self.probabilities_ = model.probabilities_
        logger.info(
            "HDBSCAN: %d faces in %d clusters, %d noise",
            n_samples,
            self.labels_.max() + 1,
            int((self.labels_ == NOISE).sum()),
        )
        return self


@dataclass(frozen=True)
class AgglomerativeConfig:
    """Parameters of :class:`AgglomerativeClusterer`."""

    n_clusters: int | str | None = AUTO
    distance_threshold: float | None = None
    linkage: str = "average"
    metric: str = "cosine"
    normalize: bool = False
    cannot_link: bool = False
    max_clusters: int = 30

    def validate(self) -> AgglomerativeConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        _check_n_clusters(self.n_clusters, allow_auto=True, allow_none=True)
        if self.distance_threshold is not None:
            check_float("distance_threshold", self.distance_threshold, 0.0, include_minimum=False)
        if (self.n_clusters is None) == (self.distance_threshold is None):
            raise ValueError(
                "set exactly one of n_clusters and distance_threshold, and the other to None; "
                f"got n_clusters={self.n_clusters!r}, distance_threshold={self.distance_threshold!r}"
            )
        check_choice("linkage", self.linkage, LINKAGES)
        check_choice("metric", self.metric, AGGLOMERATIVE_METRICS)
        if self.linkage == "ward" and self.metric != "euclidean":
            raise ValueError(
                f"linkage='ward' needs metric='euclidean', got metric={self.metric!r}; "
                "use linkage='average' or 'complete' for cosine distance"
            )
        check_bool("normalize", self.normalize)
        check_bool("cannot_link", self.cannot_link)
        if self.cannot_link and self.linkage in ("ward", "single"):
            raise ValueError(
                f"cannot_link=True needs linkage='average' or 'complete', got linkage={self.linkage!r}: "
                "ward and single linkage do not carry a forbidden pair into merged clusters"
            )
        check_int("max_clusters", self.max_clusters, 2)
        return self


class AgglomerativeClusterer(ClusterMixin, BaseEstimator):
    """Hierarchical agglomerative clustering, optionally with cannot-link constraints.

    The tree is built by ``scipy.cluster.hierarchy.linkage`` and cut at a number
    of clusters, at a distance, or at the number of clusters with the best
    silhouette.

    Parameters
    ----------
    n_clusters : int, "auto" or None, default="auto"
        Number of clusters, at most the number of faces. ``"auto"`` cuts the tree
        at every ``k`` from 2 to ``max_clusters`` (and below the number of faces)
        and keeps the cut with the highest mean silhouette coefficient. None
        cuts at ``distance_threshold`` instead. Exactly one of ``n_clusters`` and
        ``distance_threshold`` must be None.
    distance_threshold : float or None, default=None
        Clusters whose linkage distance is below this value are merged, as in
        ``sklearn.cluster.AgglomerativeClustering``. Greater than 0.
    linkage : {"ward", "average", "complete", "single"}, default="average"
        Distance between clusters: increase of within-cluster variance (Ward),
        mean, largest or smallest pairwise distance.
    metric : {"euclidean", "cosine"}, default="cosine"
        Distance between faces. Ward linkage needs ``"euclidean"``.
    normalize : bool, default=False
        L2-normalise each feature vector first.
    cannot_link : bool, default=False
        Never merge two clusters that contain faces of the same group, where
        ``groups`` is passed to ``fit``. Needs average or complete linkage.
    max_clusters : int, default=30
        Largest ``k`` tried when ``n_clusters="auto"``; at least 2.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each face, ``0 .. n_clusters_-1``; never ``-1``.
    n_clusters_ : int
        Number of clusters found.
    selection_curve_ : dict of int to float or None
        Mean silhouette per tried ``k`` when ``n_clusters="auto"``, else None.
    linkage_matrix_ : ndarray of shape (n_samples - 1, 4)
        The tree in scipy's linkage format, for dendrograms. With
        ``cannot_link=True``, merges of clusters that share a group have heights
        above every real distance and are never used by the cut.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    Time O(n_samples^2) for the tree and memory O(n_samples^2) for the distances.
    ``"auto"`` adds one silhouette per candidate on a distance matrix computed
    once. The defaults were compared on two labelled sets (695 cartoon crops of
    11 characters, and 210 Pepper&Carrot faces), with HOG and colour-histogram
    features and ``n_clusters="auto"``. Average linkage with cosine distance had
    a mean BCubed F1 of 0.54, complete linkage 0.52 and Ward 0.50.

    How ``cannot_link`` works: the distance of two faces of one group is replaced
    by a penalty that exceeds every real distance, even averaged over all pairs of
    two clusters (see :func:`comicfaces.constraints.cannot_link_distances`).
    Average and complete linkage then give every merge of clusters that share a
    group a height above the largest real distance, so cutting below that height
    honours the constraint. When ``n_clusters`` is smaller than the fewest
    clusters that honour it (for example, fewer clusters than faces in the
    busiest panel), the finest allowed cut is used and a warning is logged.
    Ward linkage cannot take the constraint: it works on the features and not on
    a distance matrix. Single linkage ignores it: the minimum over pairs skips
    the penalty pair. The constraint applies only to faces within a cluster and
    not to noise, and a face whose group is None is constrained against nothing.
    """

    def __init__(
        self,
        n_clusters=AgglomerativeConfig.n_clusters,
        distance_threshold=AgglomerativeConfig.distance_threshold,
        linkage=AgglomerativeConfig.linkage,
        metric=AgglomerativeConfig.metric,
        normalize=AgglomerativeConfig.normalize,
        cannot_link=AgglomerativeConfig.cannot_link,
        max_clusters=AgglomerativeConfig.max_clusters,
    ):
        self.n_clusters = n_clusters
        self.distance_threshold = distance_threshold
        self.linkage = linkage
        self.metric = metric
        self.normalize = normalize
        self.cannot_link = cannot_link
        self.max_clusters = max_clusters

    def get_config(self) -> AgglomerativeConfig:
        """Return the parameters as a validated :class:`AgglomerativeConfig`."""
        return AgglomerativeConfig(**self.get_params()).validate()

    def fit(self, X, y=None, groups=None):
        """Build the tree and cut it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        groups : sequence of hashable or None, optional
            Panel (or other group) of each face, used when ``cannot_link=True``
            and ignored otherwise. None entries constrain nothing.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter is invalid, ``n_clusters`` exceeds the number of faces,
            or ``groups`` has the wrong length.
        """
        config = self.get_config()
        X = _prepare(self, X, config.normalize)
        n_samples = X.shape[0]
        self.selection_curve_ = None
        if isinstance(config.n_clusters, numbers.Integral):
            _check_too_many_clusters("agglomerative clustering", config.n_clusters, n_samples)

        if n_samples == 1:
            self.linkage_matrix_ = np.empty((0, 4))
            self.labels_ = np.zeros(1, dtype=np.intp)
            self.n_clusters_ = 1
            return self

        # Merges above max_height would join clusters that share a group.
        max_height = np.inf
        if config.cannot_link:
            codes = None
            if groups is None:
                logger.info("cannot_link=True but no groups (panels) were passed to fit; no constraint applies")
            else:
                codes = encode_groups(groups, n_samples)
            distances, max_distance = cannot_link_distances(X, codes, config.metric)
            # The margin absorbs rounding in the linkage updates. Merges of clusters
            # that share a group are far above it, at least 8 * max_distance + 8.
            max_height = max_distance * (1 + 1e-6) + 1e-9
            tree = linkage(squareform(distances, checks=False), method=config.linkage)
        elif config.linkage == "ward":
            tree = linkage(X, method="ward")
        else:
            distances = np.maximum(pairwise_distances(X, metric=config.metric), 0.0)
            np.fill_diagonal(distances, 0.0)
            tree = linkage(squareform(distances, checks=False), method=config.linkage)
        self.linkage_matrix_ = tree

        labels = self._cut(tree, X, config, max_height)
        self.labels_ = labels
        self.n_clusters_ = int(labels.max()) + 1
        logger.info("agglomerative clustering: %d faces in %d clusters", n_samples, self.n_clusters_)
        return self

    def _cut(self, tree: np.ndarray, X: np.ndarray, config: AgglomerativeConfig, max_height: float) -> np.ndarray:
        """Cut the tree at the configured number of clusters or distance, never above ``max_height``."""
        n_samples = X.shape[0]
        heights = tree[:, 2]
        # The tree is monotone for these linkages, so the number of merges at or
        # below max_height fixes the fewest clusters that the cut may leave.
        min_clusters = n_samples - int(np.count_nonzero(heights <= max_height))

        if config.distance_threshold is not None:
            # fcluster keeps merges at heights <= t; the largest float below the
            # threshold gives sklearn's "merge while distance < threshold".
            limit = min(np.nextafter(config.distance_threshold, -np.inf), max_height)
            return _consecutive(fcluster(tree, t=limit, criterion="distance"))

        if config.n_clusters == AUTO:
            k_values = [k for k in _auto_k_range(config.max_clusters) if min_clusters <= k <= n_samples - 1]
            if not k_values:
                logger.warning(
                    "no number of clusters from 2 to %d fits %d faces%s; using %d clusters",
                    config.max_clusters,
                    n_samples,
                    " under the cannot-link constraint" if min_clusters > 1 else "",
                    max(min_clusters, 1),
                )
                return cut_tree(tree, n_clusters=max(min_clusters, 1)).ravel().astype(np.intp)
            cuts = cut_tree(tree, n_clusters=k_values)
            labelings = {k: cuts[:, column] for column, k in enumerate(k_values)}
            self.selection_curve_ = silhouette_curve(X, labelings, metric=config.metric)
            return labelings[best_k(self.selection_curve_)].astype(np.intp)

        n_clusters = config.n_clusters
        if n_clusters < min_clusters:
            logger.warning(
                "n_clusters=%d would merge faces of the same group; the cannot-link constraint "
                "allows no fewer than %d clusters, which are used",
                n_clusters,
                min_clusters,
            )
            n_clusters = min_clusters
        return cut_tree(tree, n_clusters=n_clusters).ravel().astype(np.intp)


@dataclass(frozen=True)
class DBSCANConfig:
    """Parameters of :class:`DBSCANClusterer`."""

    eps: float = 0.5
    min_samples: int = 4
    metric: str = "euclidean"
    normalize: bool = True

    def validate(self) -> DBSCANConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_float("eps", self.eps, 0.0, include_minimum=False)
        check_int("min_samples", self.min_samples, 1)
        check_choice("metric", self.metric, DBSCAN_METRICS)
        check_bool("normalize", self.normalize)
        return self


class DBSCANClusterer(ClusterMixin, BaseEstimator):
    """DBSCAN: clusters are dense regions of radius ``eps``; isolated faces are noise.

    Runs ``sklearn.cluster.DBSCAN``.

    Parameters
    ----------
    eps : float, default=0.5
        Radius of a face's neighbourhood, in the units of ``metric`` on the
        (normalised, when requested) features. Greater than 0.
    min_samples : int, default=4
        Faces within ``eps`` of a face, itself included, that make it a core face.
    metric : {"euclidean", "manhattan", "cosine"}, default="euclidean"
        Distance between feature vectors.
    normalize : bool, default=True
        L2-normalise each feature vector first. Euclidean distances then lie in
        ``[0, 2]``, so one ``eps`` suits features of any scale.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each face, or -1 for noise.
    core_sample_indices_ : ndarray of shape (n_core,)
        Indices of the core faces.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    A single ``eps`` cannot fit characters drawn with different variability.
    HDBSCAN, which varies the density level, did better on the two labelled sets
    used for the HDBSCAN defaults: a mean BCubed F1 of 0.55, against 0.52 for
    DBSCAN at its best ``eps`` among 0.2 to 0.7. That best ``eps`` is the default
    0.5, and ``min_samples`` 2 and 4 scored within 0.002 of each other there.
    Neighbour queries cost O(n_samples log n_samples) for low-dimensional
    features and up to O(n_samples^2) otherwise.
    """

    def __init__(
        self,
        eps=DBSCANConfig.eps,
        min_samples=DBSCANConfig.min_samples,
        metric=DBSCANConfig.metric,
        normalize=DBSCANConfig.normalize,
    ):
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.normalize = normalize

    def get_config(self) -> DBSCANConfig:
        """Return the parameters as a validated :class:`DBSCANConfig`."""
        return DBSCANConfig(**self.get_params()).validate()

    def fit(self, X, y=None, groups=None):
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        groups : sequence, optional
            Ignored; accepted so that every clusterer takes panel ids.

        Returns
        -------
        self
        """
        config = self.get_config()
        X = _prepare(self, X, config.normalize)
        model = DBSCAN(eps=config.eps, min_samples=config.min_samples, metric=config.metric).fit(X)
        self.labels_ = model.labels_.astype(np.intp)
        self.core_sample_indices_ = model.core_sample_indices_
        logger.info(
            "DBSCAN: %d faces in %d clusters, %d noise",
            X.shape[0],
            self.labels_.max() + 1,
            int((self.labels_ == NOISE).sum()),
        )
        return self


@dataclass(frozen=True)
class SpectralConfig:
    """Parameters of :class:`SpectralClusterer`."""

    n_clusters: int | None = None
    affinity: str = "nearest_neighbors"
    n_neighbors: int = 10
    gamma: float = 1.0
    normalize: bool = False
    max_clusters: int = 30
    random_state: int | None = 0

    def validate(self) -> SpectralConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        _check_n_clusters(self.n_clusters, allow_none=True)
        check_choice("affinity", self.affinity, SPECTRAL_AFFINITIES)
        check_int("n_neighbors", self.n_neighbors, 1)
        check_float("gamma", self.gamma, 0.0, include_minimum=False)
        check_bool("normalize", self.normalize)
        check_int("max_clusters", self.max_clusters, 2)
        check_random_state("random_state", self.random_state)
        return self


class SpectralClusterer(ClusterMixin, BaseEstimator):
    """Spectral clustering of a face affinity graph, with k from the eigengap when not given.

    Builds the affinity itself and runs ``sklearn.cluster.SpectralClustering`` on
    it with ``affinity="precomputed"``, so that the eigengap and the clustering
    see the same graph.

    Parameters
    ----------
    n_clusters : int or None, default=None
        Number of clusters, at most the number of faces. None chooses ``k`` from 2
        to ``max_clusters`` (and below the number of faces) by the eigengap of the
        normalised Laplacian, see :mod:`comicfaces.model_selection`.
    affinity : {"nearest_neighbors", "rbf"}, default="nearest_neighbors"
        ``"nearest_neighbors"``: weight 1 between a face and each of its
        ``n_neighbors`` nearest faces, symmetrised as ``(A + A.T) / 2``.
        ``"rbf"``: ``exp(-gamma * ||x - y||^2)`` between every pair.
    n_neighbors : int, default=10
        Neighbours per face, itself included, of the ``"nearest_neighbors"``
        graph; lowered to the number of faces.
    gamma : float, default=1.0
        Kernel width of ``"rbf"``. Greater than 0.
    normalize : bool, default=False
        L2-normalise each feature vector first.
    max_clusters : int, default=30
        Largest ``k`` tried when ``n_clusters`` is None; at least 2.
    random_state : int or None, default=0
        Seed of the eigensolver start vector and of the k-means on the embedding.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each face, ``0 .. n_clusters_-1``; never ``-1``.
    n_clusters_ : int
        Number of clusters used: ``n_clusters`` or the eigengap choice.
    eigenvalues_ : ndarray or None
        The ``min(max_clusters + 1, n_samples)`` smallest eigenvalues of the
        normalised Laplacian, increasing, when ``n_clusters`` is None; else None.
    selection_curve_ : dict of int to float or None
        Eigengap ``lambda_k - lambda_(k-1)`` per tried ``k`` when ``n_clusters`` is
        None; else None.
    affinity_matrix_ : sparse matrix or ndarray of shape (n_samples, n_samples)
        The affinity clustered.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    The eigengap heuristic assumes that clusters are nearly disconnected in the
    graph, which holds for well separated characters and fails for a continuum
    of poses. With fewer than 3 faces no candidate fits and one cluster is used.
    ``"rbf"`` stores a dense n x n affinity. The k-NN graph may fall apart into
    pieces, and scikit-learn then warns that the embedding may be poor.
    """

    def __init__(
        self,
        n_clusters=SpectralConfig.n_clusters,
        affinity=SpectralConfig.affinity,
        n_neighbors=SpectralConfig.n_neighbors,
        gamma=SpectralConfig.gamma,
        normalize=SpectralConfig.normalize,
        max_clusters=SpectralConfig.max_clusters,
        random_state=SpectralConfig.random_state,
    ):
        self.n_clusters = n_clusters
        self.affinity = affinity
        self.n_neighbors = n_neighbors
        self.gamma = gamma
        self.normalize = normalize
        self.max_clusters = max_clusters
        self.random_state = random_state

    def get_config(self) -> SpectralConfig:
        """Return the parameters as a validated :class:`SpectralConfig`."""
        return SpectralConfig(**self.get_params()).validate()

    def fit(self, X, y=None, groups=None):
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        groups : sequence, optional
            Ignored; accepted so that every clusterer takes panel ids.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter is invalid or ``n_clusters`` exceeds the number of faces.
        """
        config = self.get_config()
        X = _prepare(self, X, config.normalize)
        n_samples = X.shape[0]
        if config.n_clusters is not None:
            _check_too_many_clusters("spectral clustering", config.n_clusters, n_samples)

        if config.affinity == "nearest_neighbors":
            affinity = knn_affinity(X, config.n_neighbors)
        else:
            affinity = np.exp(-config.gamma * pairwise_distances(X, metric="sqeuclidean"))
        self.affinity_matrix_ = affinity

        n_clusters = config.n_clusters
        self.eigenvalues_ = None
        self.selection_curve_ = None
        if n_clusters is None:
            k_values = [k for k in _auto_k_range(config.max_clusters) if k <= n_samples - 1]
            self.eigenvalues_ = laplacian_spectrum(affinity, config.max_clusters + 1)
            if k_values:
                self.selection_curve_ = eigengap_curve(self.eigenvalues_, k_values)
                n_clusters = best_k(self.selection_curve_)
            else:
                logger.warning("spectral clustering: %d faces are too few to choose k; using 1 cluster", n_samples)
                n_clusters = 1

        if n_clusters == 1:
            labels = np.zeros(n_samples, dtype=np.intp)
        else:
            model = SpectralClustering(
                n_clusters=n_clusters, affinity="precomputed", random_state=config.random_state
            )
            labels = _consecutive(model.fit_predict(affinity))
        self.labels_ = labels
        self.n_clusters_ = int(labels.max()) + 1
        logger.info("spectral clustering: %d faces in %d clusters", n_samples, self.n_clusters_)
        return self


@dataclass(frozen=True)
class RankOrderConfig:
    """Parameters of :class:`RankOrderClusterer`."""

    n_neighbors: int = 20
    threshold: float = 1.4
    min_cluster_size: int = 2
    metric: str = "euclidean"
    normalize: bool = True

    def validate(self) -> RankOrderConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("n_neighbors", self.n_neighbors, 1)
        check_float("threshold", self.threshold, 0.0, include_minimum=False)
        check_int("min_cluster_size", self.min_cluster_size, 1)
        check_choice("metric", self.metric, RANK_ORDER_METRICS)
        check_bool("normalize", self.normalize)
        return self


class RankOrderClusterer(ClusterMixin, BaseEstimator):
    """Approximate rank-order clustering (AROC) of Otto, Wang and Jain (2018).

    Two faces are linked when they are in each other's ``n_neighbors`` nearest
    faces and their neighbour lists agree: the normalised approximate rank-order
    distance ``D(a, b)`` is below ``threshold``. Clusters are the connected
    components of the links. The definitions of ``d(a, b)`` and ``D(a, b)`` are in
    :mod:`comicfaces.rank_order`. Source: C. Otto, D. Wang and A. K. Jain,
    "Clustering Millions of Faces by Identity", IEEE TPAMI 40(2), 2018.

    Parameters
    ----------
    n_neighbors : int, default=20
        ``k``, the length of each face's neighbour list, itself excluded; lowered
        to the number of faces minus one.
    threshold : float, default=1.4
        Pairs with ``D(a, b) < threshold`` are linked. Greater than 0. ``D`` is 0
        for faces whose neighbour lists agree up to each other and about 2 for
        unrelated lists, so values between 1 and 2 are typical.
    min_cluster_size : int, default=2
        Components with fewer faces become noise (-1). 1 keeps singletons as
        clusters.
    metric : {"euclidean", "manhattan", "cosine"}, default="euclidean"
        Distance of the nearest-neighbour search.
    normalize : bool, default=True
        L2-normalise each feature vector first.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each face, ``0 .. k-1`` by first face, or -1 for noise.
    neighbors_ : ndarray of shape (n_samples, n_neighbors_)
        Indices of each face's nearest faces, nearest first.
    rank_order_distances_ : ndarray of shape (n_samples, n_neighbors_)
        ``D(a, neighbors_[a, j])``; ``inf`` where the two are not mutual neighbours.
    n_neighbors_ : int
        Neighbour list length used.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    The neighbour search (``sklearn.neighbors.NearestNeighbors``) is exact; an
    approximate index would be needed for millions of faces. The distances cost
    O(n_samples k^2 log(n_samples k)) and are computed with numpy over the
    ``(n_samples, k)`` neighbour array. A ``k`` much larger than a character's
    number of faces makes every list reach into other characters.

    The defaults were chosen on two labelled sets (695 cartoon crops of 11
    characters, and 210 Pepper&Carrot faces of 15 characters plus one-off
    extras) with HOG and colour-histogram features. Among ``n_neighbors`` 5, 10
    and 20 and thresholds 0.8 to 2.0, ``n_neighbors=20`` scored best. Thresholds
    1.0 to 1.4 gave a mean BCubed F1 (noise counted as singletons) of 0.51, and
    1.6 gave 0.50. On the same sets HDBSCAN's defaults reached 0.55.
    """

    def __init__(
        self,
        n_neighbors=RankOrderConfig.n_neighbors,
        threshold=RankOrderConfig.threshold,
        min_cluster_size=RankOrderConfig.min_cluster_size,
        metric=RankOrderConfig.metric,
        normalize=RankOrderConfig.normalize,
    ):
        self.n_neighbors = n_neighbors
        self.threshold = threshold
        self.min_cluster_size = min_cluster_size
        self.metric = metric
        self.normalize = normalize

    def get_config(self) -> RankOrderConfig:
        """Return the parameters as a validated :class:`RankOrderConfig`."""
        return RankOrderConfig(**self.get_params()).validate()

    def fit(self, X, y=None, groups=None):
        """Cluster the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        groups : sequence, optional
            Ignored; accepted so that every clusterer takes panel ids.

        Returns
        -------
        self
        """
        config = self.get_config()
        X = _prepare(self, X, config.normalize)
        n_samples = X.shape[0]

        n_neighbors = min(config.n_neighbors, n_samples - 1)
        if n_neighbors >= 1:
            index = NearestNeighbors(n_neighbors=n_neighbors, metric=config.metric).fit(X)
            # Without a query, kneighbors leaves each face out of its own list,
            # even when duplicates tie with it at distance 0.
            neighbors = index.kneighbors(return_distance=False)
        else:
            neighbors = np.empty((n_samples, 0), dtype=np.intp)
        distances = rank_order_distances(neighbors)
        components = rank_order_components(neighbors, distances, config.threshold)

        sizes = np.bincount(components)
        labels = np.where(sizes[components] >= config.min_cluster_size, components, NOISE)
        self.labels_ = _consecutive(labels)
        self.neighbors_ = neighbors
        self.rank_order_distances_ = distances
        self.n_neighbors_ = int(n_neighbors)
        logger.info(
            "rank-order clustering: %d faces in %d clusters, %d noise",
            n_samples,
            self.labels_.max() + 1,
            int((self.labels_ == NOISE).sum()),
        )
        return self


@dataclass(frozen=True)
class RandomConfig:
    """Parameters of :class:`RandomClusterer`."""

    n_clusters: int = 8
    random_state: int | None = 0

    def validate(self) -> RandomConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        _check_n_clusters(self.n_clusters)
        check_random_state("random_state", self.random_state)
        return self


class RandomClusterer(ClusterMixin, BaseEstimator):
    """Random baseline: faces dealt into ``n_clusters`` clusters of equal size.

    Scores of a real method should be compared with this baseline at the same
    number of clusters: pairwise and BCubed scores are far from 0 by chance when
    one character dominates.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters, at most the number of faces.
    random_state : int or None, default=0
        Seed of the shuffle.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        A random permutation of ``i % n_clusters``, so cluster sizes differ by at
        most one and every cluster is used.
    n_features_in_ : int
        Number of features seen in ``fit``.
    """

    def __init__(self, n_clusters=RandomConfig.n_clusters, random_state=RandomConfig.random_state):
        self.n_clusters = n_clusters
        self.random_state = random_state

    def get_config(self) -> RandomConfig:
        """Return the parameters as a validated :class:`RandomConfig`."""
        return RandomConfig(**self.get_params()).validate()

    def fit(self, X, y=None, groups=None):
        """Deal the rows of ``X`` into clusters at random.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Only its number of rows is used.
        y : None
            Ignored.
        groups : sequence, optional
            Ignored; accepted so that every clusterer takes panel ids.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter is invalid or ``n_clusters`` exceeds the number of faces.
        """
        config = self.get_config()
        X = _prepare(self, X, normalize=False)
        n_samples = X.shape[0]
        _check_too_many_clusters("the random baseline", config.n_clusters, n_samples)
        generator = make_random_state(config.random_state)
        self.labels_ = generator.permutation(np.arange(n_samples) % config.n_clusters).astype(np.intp)
        return self


@dataclass(frozen=True)
class CannotLinkConfig:
    """Parameters of :class:`CannotLinkSplit`."""

    base: str = "hdbscan"
    base_params: dict | None = None
    unplaced: str = "split"

    def validate(self) -> CannotLinkConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        bases = sorted(name for name in CLUSTERERS if CLUSTERERS[name] is not CannotLinkSplit)
        check_choice("base", self.base, bases)
        if self.base_params is not None and not isinstance(self.base_params, dict):
            raise ValueError(
                f"base_params must be a dict of parameters of clusterer {self.base!r} or None, "
                f"got {self.base_params!r}"
            )
        make_clusterer(self.base, **(self.base_params or {}))
        check_choice("unplaced", self.unplaced, UNPLACED_POLICIES)
        return self


class CannotLinkSplit(ClusterMixin, BaseEstimator):
    """Any registered clusterer followed by :func:`~comicfaces.constraints.split_cannot_link`.

    Runs the base clusterer and then separates faces of the same group (panel)
    that ended up in one cluster.

    Parameters
    ----------
    base : str, default="hdbscan"
        Name of the base clusterer in :data:`CLUSTERERS`.
    base_params : dict or None, default=None
        Constructor parameters of the base clusterer.
    unplaced : {"split", "singleton", "noise"}, default="split"
        Fate of a moved face that fits no other cluster, see
        :func:`~comicfaces.constraints.split_cannot_link`.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Labels after the split; -1 for noise.
    base_labels_ : ndarray of shape (n_samples,)
        Labels of the base clusterer.
    base_estimator_ : estimator
        The fitted base clusterer.
    n_moved_ : int
        Number of faces whose label the split changed.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    The split measures Euclidean distances on the features the base clustered:
    L2-normalised when the base has ``normalize=True``, as given otherwise.
    ``groups`` is passed to the base too, so ``base="agglomerative"`` with
    ``base_params={"cannot_link": True}`` applies the constraint during
    clustering and the split then changes nothing. Without ``groups`` the base
    labels are returned unchanged and a warning is logged.
    """

    def __init__(
        self,
        base=CannotLinkConfig.base,
        base_params=CannotLinkConfig.base_params,
        unplaced=CannotLinkConfig.unplaced,
    ):
        self.base = base
        self.base_params = base_params
        self.unplaced = unplaced

    def get_config(self) -> CannotLinkConfig:
        """Return the parameters as a validated :class:`CannotLinkConfig`."""
        return CannotLinkConfig(**self.get_params(deep=False)).validate()

    def fit(self, X, y=None, groups=None):
        """Run the base clusterer, then split clusters that hold a group twice.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        groups : sequence of hashable or None, optional
            Panel (or other group) of each face; None entries constrain nothing.

        Returns
        -------
        self
        """
        config = self.get_config()
        X = _prepare(self, X, normalize=False)
        base = make_clusterer(config.base, **(config.base_params or {}))
        base_labels = np.asarray(base.fit_predict(X, groups=groups), dtype=np.intp)

        if groups is None:
            logger.warning("cannot-link split: no groups were passed to fit; the %s labels are kept", config.base)
            labels = base_labels.copy()
        else:
            space = l2_normalize(X) if base.get_params().get("normalize", False) else X
            labels = split_cannot_link(base_labels, space, groups, unplaced=config.unplaced)

        self.base_estimator_ = base
        self.base_labels_ = base_labels
        self.labels_ = labels
        self.n_moved_ = int(np.count_nonzero(labels != base_labels))
        return self


#: Clusterer classes by name.
CLUSTERERS: dict[str, type[BaseEstimator]] = {
    "kmeans": KMeansClusterer,
    "hdbscan": HDBSCANClusterer,
    "agglomerative": AgglomerativeClusterer,
    "dbscan": DBSCANClusterer,
    "spectral": SpectralClusterer,
    "rank_order": RankOrderClusterer,
    "random": RandomClusterer,
    "cannot_link": CannotLinkSplit,
}

#: One line per clusterer name, for menus and help text.
CLUSTERER_DESCRIPTIONS: dict[str, str] = {
    "kmeans": "k-means with a given number of characters, or 'auto' to choose it by silhouette",
    "hdbscan": "HDBSCAN: finds the number of characters itself and leaves outliers as noise",
    "agglomerative": "hierarchical merging of the closest clusters; optional panel cannot-link constraint",
    "dbscan": "DBSCAN: dense regions of one fixed radius are characters, the rest is noise",
    "spectral": "spectral clustering of a nearest-neighbour graph; k from the eigengap when not given",
    "rank_order": "approximate rank-order clustering (Otto et al. 2018): links faces with shared neighbours",
    "random": "random baseline: faces dealt into k equal clusters",
    "cannot_link": "any clusterer, then faces of one panel that share a cluster are separated",
}


def make_clusterer(name: str, **params) -> BaseEstimator:
    """Create the clusterer registered as ``name``.

    Parameters
    ----------
    name : str
        Key of :data:`CLUSTERERS`, such as ``"kmeans"``, ``"hdbscan"`` or
        ``"agglomerative"``.
    **params
        Constructor parameters of that class.

    Returns
    -------
    BaseEstimator
        Unfitted clusterer with validated parameters.

    Raises
    ------
    ValueError
        If the name or a parameter name is unknown, or a parameter value is invalid.
    """
    return make_estimator(CLUSTERERS, "clusterer", name, params)
