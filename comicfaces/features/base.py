"""Base class for estimators that turn face crops into feature vectors."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from comicfaces.features.validation import check_images

logger = logging.getLogger(__name__)


class ImageFeatureExtractor(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Transformer from a list of RGB ``uint8`` crops to an ``(n, d)`` float32 matrix.

    Subclasses implement ``get_config()`` (return the validated parameter dataclass,
    which has an ``n_features`` property) and ``_transform_image(image, config)``
    (return a 1-D vector of length ``n_features`` for one crop). Extractors that need
    state, such as a vocabulary of visual words or network weights, override ``fit``
    and set the ``requires_fit`` tag.

    Notes
    -----
    The input is a list of images, not a 2-D array, so most of scikit-learn's
    ``check_estimator`` suite does not apply. The ``two_d_array`` input tag is False
    for that reason, and ``n_features_in_`` is never set.
    """

    def get_config(self):
        """Return the parameters as a validated frozen dataclass."""
        raise NotImplementedError

    def _transform_image(self, image: np.ndarray, config) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X, y=None):
        """Validate the parameters and the crops; nothing is learned.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        config = self.get_config()
        check_images(X)
        self._n_features_out = config.n_features
        return self

    def transform(self, X) -> np.ndarray:
        """Compute one feature vector per crop.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.

        Returns
        -------
        ndarray of shape (n_images, n_features), dtype float32
        """
        config = self.get_config()
        images = check_images(X)

        features = np.empty((len(images), config.n_features), dtype=np.float32)
        for index, image in enumerate(images):
            features[index] = self._transform_image(image, config)
        return features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = []
        return tags
