"""Random features: a baseline that carries no information about the faces."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state as sklearn_random_state

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.validation import check_images, check_int, check_random_state

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RandomFeaturesConfig:
    """Parameters of :class:`RandomFeatures`."""

    n_components: int = 64
    random_state: int | None = 0

    def validate(self) -> RandomFeaturesConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("n_components", self.n_components, 1)
        check_random_state("random_state", self.random_state)
        return self

    @property
    def n_features(self) -> int:
        """Length of one random vector."""
        return self.n_components


class RandomFeatures(ImageFeatureExtractor):
    """Standard normal noise in place of features, the chance level of a comparison.

    A clustering of these vectors shows what a score looks like when the features
    say nothing about identity. A real extractor that does not beat this baseline
    by a clear margin on the same faces, clusterer and metric adds nothing.

    Parameters
    ----------
    n_components : int, default=64
        Length of each vector, at least 1.
    random_state : int or None, default=0
        Seed. With an int, the same seed and the same number of crops give the same
        matrix; None draws new noise on every call.

    Notes
    -----
    Row ``i`` depends only on the seed and on ``i``'s position in the batch, never on
    the pixels, so transforming a subset of the crops gives other rows than the
    same crops had in the full batch. The crops are still validated, so a batch
    that another extractor rejects fails here too.
    """

    def __init__(
        self,
        n_components=RandomFeaturesConfig.n_components,
        random_state=RandomFeaturesConfig.random_state,
    ):
        self.n_components = n_components
        self.random_state = random_state

    def get_config(self) -> RandomFeaturesConfig:
        """Return the parameters as a validated :class:`RandomFeaturesConfig`."""
        return RandomFeaturesConfig(**self.get_params()).validate()

    def transform(self, X) -> np.ndarray:
        """Draw one standard normal vector per crop.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``; only their number
            is used.

        Returns
        -------
        ndarray of shape (n_images, n_components), dtype float32
        """
        config = self.get_config()
        images = check_images(X)
        generator = sklearn_random_state(config.random_state)
        return generator.standard_normal((len(images), config.n_components)).astype(np.float32)
