"""Per-channel colour histograms of face crops."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.validation import check_choice, check_int

logger = logging.getLogger(__name__)

COLOR_SPACES = ("rgb", "hsv")


@dataclass(frozen=True)
class ColorHistogramConfig:
    """Parameters of :class:`ColorHistogram`."""

    bins: int = 32
    color_space: str = "rgb"

    def validate(self) -> ColorHistogramConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("bins", self.bins, 1, 256)
        check_choice("color_space", self.color_space, COLOR_SPACES)
        return self

    @property
    def n_features(self) -> int:
        """Length of one histogram vector (three channels)."""
        return 3 * self.bins


class ColorHistogram(ImageFeatureExtractor):
    """Concatenated per-channel histograms of each face crop.

    Parameters
    ----------
    bins : int, default=32
        Bins per channel, 1 to 256. Each bin covers ``256 / bins`` channel values.
    color_space : {"rgb", "hsv"}, default="rgb"
        Channels to histogram. ``"hsv"`` uses OpenCV's full-range conversion, in
        which hue, saturation and value all span 0-255.

    Notes
    -----
    Each channel's histogram is divided by the pixel count, so each third of the
    vector sums to 1 and crops of different sizes compare directly. The cost is
    O(height * width) per crop.

    Every pixel counts, background included. On crops with a plain background the
    background bin dominates, and in HSV the hue of gray and white pixels is 0, so
    they all fall into the first hue bin.
    """

    def __init__(
        self, bins=ColorHistogramConfig.bins, color_space=ColorHistogramConfig.color_space
    ):
        self.bins = bins
        self.color_space = color_space

    def get_config(self) -> ColorHistogramConfig:
        """Return the parameters as a validated :class:`ColorHistogramConfig`."""
        return ColorHistogramConfig(**self.get_params()).validate()

    def _transform_image(self, image: np.ndarray, config: ColorHistogramConfig) -> np.ndarray:
        if config.color_space == "hsv":
            image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV_FULL)

        pixels = image.reshape(-1, 3)

        # Map 0-255 onto 0..bins-1 with integer arithmetic, which also works for a
        # bin count that does not divide 256.
        bin_index = (pixels.astype(np.uint32) * config.bins) >> 8

        histograms = [
            np.bincount(bin_index[:, channel], minlength=config.bins) for channel in range(3)
        ]
        return np.concatenate(histograms) / pixels.shape[0]
