"""Optional dimensionality reduction between feature extraction and clustering.

:data:`REDUCERS` maps names to scikit-learn transformers on 2-D numeric arrays, and
:func:`make_reducer` builds one by name. ``"none"`` passes features through unchanged
so that a pipeline always has a reducer step. :data:`REDUCER_DESCRIPTIONS` describes
each in one line. :func:`tsne_view` makes 2-D scatter-plot views only; t-SNE is not
a reducer, for the reasons given there.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
)
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from comicfaces.autoencoder import AutoencoderReducer
from comicfaces.features.registry import make_estimator
from comicfaces.features.validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_random_state,
)

logger = logging.getLogger(__name__)


class IdentityReducer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Transformer that returns its validated input unchanged.

    ``fit`` records ``n_features_in_`` so that ``transform`` can reject input with a
    different number of columns.
    """

    def get_config(self) -> None:
        """Return None, because this reducer has no parameters."""
        return None

    def fit(self, X, y=None):
        """Record the number of features of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        validate_data(self, X, dtype=[np.float64, np.float32])
        return self

    def transform(self, X) -> np.ndarray:
        """Return ``X`` as a float array (float32 stays float32)."""
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


@dataclass(frozen=True)
class PCAConfig:
    """Parameters of :class:`PCAReducer`.

    ``n_components`` is an int (number of components, at least 1), a float in (0, 1)
    (the share of variance to keep) or None (keep every component).
    """

    n_components: int | float | None = 50
    whiten: bool = False
    standardize: bool = False
    random_state: int | None = 0

    def validate(self) -> PCAConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        n_components = self.n_components
        is_bool = isinstance(n_components, (bool, np.bool_))
        is_int = isinstance(n_components, numbers.Integral) and not is_bool
        is_real = isinstance(n_components, numbers.Real) and not is_bool
        valid_count = is_int and n_components >= 1
        valid_share = is_real and not is_int and 0.0 < n_components < 1.0
        if n_components is not None and not valid_count and not valid_share:
            raise ValueError(
                "n_components must be an integer >= 1, a float in (0, 1) for the share of "
                f"variance to keep, or None for all components; got {n_components!r}"
            )
        check_bool("whiten", self.whiten)
        check_bool("standardize", self.standardize)
        check_random_state("random_state", self.random_state)
        return self


class PCAReducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Principal component analysis that adapts to small face sets.

    Parameters
    ----------
    n_components : int, float or None, default=50
        Number of components (int), share of variance to keep (float in (0, 1)) or
        None for all. An int larger than the data allows is lowered, see Notes.
    whiten : bool, default=False
        Scale each component to unit variance.
    standardize : bool, default=False
        Scale each feature to zero mean and unit variance before the PCA, so that
        features with a large range do not dominate the components.
    random_state : int or None, default=0
        Seed of the randomized SVD solver, which scikit-learn picks for large inputs.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
        Fitted PCA.
    scaler_ : sklearn.preprocessing.StandardScaler or None
        Fitted scaler when ``standardize`` is True.
    n_components_ : int
        Number of components kept.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Share of variance of each kept component.
    n_features_in_ : int
        Number of input features.

    Notes
    -----
    Centred data of ``n`` samples spans at most ``n - 1`` dimensions, so an int
    ``n_components`` is lowered to ``min(n_samples - 1, n_features)`` with a logged
    warning: a comic with 5 faces and ``n_components=50`` gets 4 components. The
    ``n``-th component would carry only rounding noise, which whitening would blow
    up. PCA on a single sample is undefined and raises ``ValueError``.
    """

    def __init__(
        self,
        n_components=PCAConfig.n_components,
        whiten=PCAConfig.whiten,
        standardize=PCAConfig.standardize,
        random_state=PCAConfig.random_state,
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.standardize = standardize
        self.random_state = random_state

    def get_config(self) -> PCAConfig:
        """Return the parameters as a validated :class:`PCAConfig`."""
        return PCAConfig(**self.get_params()).validate()

    def fit(self, X, y=None):
        """Fit the optional scaler and the PCA on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter is invalid or ``X`` has fewer than 2 samples.
        """
        config = self.get_config()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples, n_features = X.shape
        if n_samples < 2:
            raise ValueError(
                f"PCA needs at least 2 samples, got n_samples={n_samples}; "
                "use the reducer 'none' for a single face"
            )

        n_components = config.n_components
        max_components = min(n_samples - 1, n_features)
        if isinstance(n_components, numbers.Integral) and n_components > max_components:
            logger.warning(
                "PCA n_components=%d exceeds min(n_samples - 1, n_features) = %d "
                "for %d samples and %d features; using %d components",
                n_components,
                max_components,
                n_samples,
                n_features,
                max_components,
            )
            n_components = max_components

        if config.standardize:
            self.scaler_ = StandardScaler().fit(X)
            X = self.scaler_.transform(X)
        else:
            self.scaler_ = None

        self.pca_ = PCA(
            n_components=n_components, whiten=config.whiten, random_state=config.random_state
        ).fit(X)
        self.n_components_ = int(self.pca_.n_components_)
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        self._n_features_out = self.n_components_
        return self

    def transform(self, X) -> np.ndarray:
        """Project ``X`` onto the fitted components.

        Returns
        -------
        ndarray of shape (n_samples, n_components_)
            float32 for float32 input, else float64.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return self.pca_.transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


UMAP_METRICS = ("euclidean", "cosine", "manhattan", "correlation")


@dataclass(frozen=True)
class UMAPConfig:
    """Parameters of :class:`UMAPReducer`."""

    n_components: int = 10
    n_neighbors: int = 15
    min_dist: float = 0.0
    metric: str = "euclidean"
    random_state: int | None = 0

    def validate(self) -> UMAPConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("n_components", self.n_components, 1)
        check_int("n_neighbors", self.n_neighbors, 2)
        check_float("min_dist", self.min_dist, 0.0)
        check_choice("metric", self.metric, UMAP_METRICS)
        check_random_state("random_state", self.random_state)
        return self


class UMAPReducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """UMAP embedding (``umap-learn``) that adapts to small face sets.

    Parameters
    ----------
    n_components : int, default=10
        Dimension of the embedding. For clustering, more than 2 dimensions keep
        more of the neighbourhood structure; lowered for tiny sets, see Notes.
    n_neighbors : int, default=15
        Size of the neighbourhood that UMAP preserves: small values keep local
        detail, large values the global layout. At least 2; lowered to
        ``n_samples - 1``.
    min_dist : float, default=0.0
        Smallest distance between embedded points. 0 packs clusters tightly,
        which the UMAP documentation recommends before clustering.
    metric : {"euclidean", "cosine", "manhattan", "correlation"}, default="euclidean"
        Distance in the input space.
    random_state : int or None, default=0
        Seed; a fixed seed makes UMAP deterministic and single-threaded.

    Attributes
    ----------
    umap_ : umap.UMAP
        Fitted model.
    n_components_ : int
        Dimension of the embedding.
    n_neighbors_ : int
        Neighbourhood size used.
    n_features_in_ : int
        Number of input features.

    Notes
    -----
    UMAP needs at least 3 samples and raises ``ValueError`` for fewer. Its
    spectral initialisation needs ``n_components <= n_samples - 2``, so a larger
    ``n_components`` is lowered with a logged warning. ``umap`` is imported on
    first use. The import and the numba compilation of its kernels take several
    seconds in each new process. ``transform`` places new faces in the fitted
    embedding without moving the old ones.
    """

    def __init__(
        self,
        n_components=UMAPConfig.n_components,
        n_neighbors=UMAPConfig.n_neighbors,
        min_dist=UMAPConfig.min_dist,
        metric=UMAPConfig.metric,
        random_state=UMAPConfig.random_state,
    ):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.random_state = random_state

    def get_config(self) -> UMAPConfig:
        """Return the parameters as a validated :class:`UMAPConfig`."""
        return UMAPConfig(**self.get_params()).validate()

    def fit(self, X, y=None):
        """Fit the embedding on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a parameter is invalid or ``X`` has fewer than 3 samples.
        """
        config = self.get_config()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_samples = X.shape[0]
        if n_samples < 3:
            raise ValueError(
                f"UMAP needs at least 3 samples, got n_samples={n_samples}; "
                "use the reducer 'none' for fewer faces"
            )

        n_neighbors = min(config.n_neighbors, n_samples - 1)
        n_components = config.n_components
        if n_components > n_samples - 2:
            logger.warning(
                "UMAP n_components=%d exceeds n_samples - 2 = %d for %d samples; using %d components",
                n_components,
                n_samples - 2,
                n_samples,
                n_samples - 2,
            )
            n_components = n_samples - 2

        import umap

        self.umap_ = umap.UMAP(
            n_components=n_components,
            n_neighbors=n_neighbors,
            min_dist=config.min_dist,
            metric=config.metric,
            random_state=config.random_state,
            # A fixed seed forces one thread; saying so avoids umap's warning.
            n_jobs=1 if config.random_state is not None else -1,
        ).fit(X)
        self.n_components_ = int(n_components)
        self.n_neighbors_ = int(n_neighbors)
        self._n_features_out = self.n_components_
        return self

    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return its embedding, as computed during the fit."""
        self.fit(X, y)
        return self.umap_.embedding_.astype(self._output_dtype(X), copy=False)

    def transform(self, X) -> np.ndarray:
        """Embed ``X`` in the fitted space.

        Returns
        -------
        ndarray of shape (n_samples, n_components_)
            float32 for float32 input, else float64.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.umap_.transform(X).astype(X.dtype, copy=False)

    @staticmethod
    def _output_dtype(X) -> np.dtype:
        dtype = getattr(X, "dtype", None)
        return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def tsne_view(X, perplexity: float = 30.0, random_state: int | None = 0) -> np.ndarray:
    """Project faces to 2-D with t-SNE for a scatter plot.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features, usually after the reducer.
    perplexity : float, default=30.0
        Effective number of neighbours; lowered to ``(n_samples - 1) / 3`` for small
        sets, because scikit-learn requires it to be below ``n_samples``.
    random_state : int or None, default=0
        Seed of the initialisation and optimisation.

    Returns
    -------
    ndarray of float32, shape (n_samples, 2)
        Zeros for fewer than 3 faces, which have no meaningful layout.

    Notes
    -----
    t-SNE is for viewing only and is not registered as a reducer for two
    reasons. It has no ``transform``: faces added later cannot be placed in an
    existing map, so the whole map must be recomputed. And it distorts densities
    and distances between groups: cluster sizes and gaps in the map carry no
    meaning, so density- or distance-based clusterers such as HDBSCAN or DBSCAN
    would find structure that t-SNE created. UMAP (``"umap"``) has a
    ``transform`` and is the nonlinear reducer to use before clustering. t-SNE
    costs O(n_samples log n_samples) per iteration with the Barnes-Hut method.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of features, got shape {X.shape}")
    n_samples = X.shape[0]
    if n_samples < 3:
        return np.zeros((n_samples, 2), dtype=np.float32)

    from sklearn.manifold import TSNE

    perplexity = min(float(perplexity), (n_samples - 1) / 3)
    view = TSNE(n_components=2, perplexity=perplexity, random_state=random_state).fit_transform(X)
    return view.astype(np.float32)


#: Reducer classes by name.
REDUCERS: dict[str, type[BaseEstimator]] = {
    "none": IdentityReducer,
    "pca": PCAReducer,
    "umap": UMAPReducer,
    "autoencoder": AutoencoderReducer,
}

#: One line per reducer name, for menus and help text.
REDUCER_DESCRIPTIONS: dict[str, str] = {
    "none": "no reduction: cluster the features as extracted",
    "pca": "principal component analysis: linear, fast, keeps the directions of largest variance",
    "umap": "UMAP: nonlinear, keeps neighbourhoods; can embed new faces later",
    "autoencoder": "deep or sparse (KL penalty) autoencoder in torch, with early stopping",
}


def make_reducer(name: str = "none", **params) -> BaseEstimator:
    """Create the reducer registered as ``name``.

    Parameters
    ----------
    name : str, default="none"
        Key of :data:`REDUCERS`: ``"none"``, ``"pca"`` or ``"umap"``.
    **params
        Constructor parameters of that class.

    Returns
    -------
    BaseEstimator
        Unfitted transformer with validated parameters.

    Raises
    ------
    ValueError
        If the name or a parameter name is unknown, or a parameter value is invalid.
    """
    return make_estimator(REDUCERS, "reducer", name, params)
