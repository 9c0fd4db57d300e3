"""Histogram of oriented gradients (HOG) on a fixed-size grayscale face crop."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.validation import check_choice, check_int

logger = logging.getLogger(__name__)

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


@dataclass(frozen=True)
class HOGConfig:
    """Parameters of :class:`HOGFeatures`.

    The defaults apply the layout of Dalal and Triggs (2005) to a 64 x 64 px face:
    9 unsigned orientation bins, 8 x 8 px cells, 2 x 2 cell blocks and L2-Hys block
    normalisation. They give 1764 values per face.
    """

    size: int = 64
    orientations: int = 9
    pixels_per_cell: int = 8
    cells_per_block: int = 2
    block_norm: str = "L2-Hys"

    def validate(self) -> HOGConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("size", self.size, 8)
        check_int("orientations", self.orientations, 1, 180)
        check_int("pixels_per_cell", self.pixels_per_cell, 1, self.size)
        check_int("cells_per_block", self.cells_per_block, 1)
        check_choice("block_norm", self.block_norm, BLOCK_NORMS)

        cells = self.size // self.pixels_per_cell
        if self.cells_per_block > cells:
            raise ValueError(
                f"cells_per_block must be at most size // pixels_per_cell = {cells}, "
                f"got {self.cells_per_block}"
            )
        return self

    @property
    def n_features(self) -> int:
        """Length of one HOG vector."""
        blocks = self.size // self.pixels_per_cell - self.cells_per_block + 1
        return blocks * blocks * self.cells_per_block**2 * self.orientations


class HOGFeatures(ImageFeatureExtractor):
    """HOG descriptor of each face crop, resized to ``size`` x ``size`` grayscale.

    Parameters
    ----------
    size : int, default=64
        Side in pixels of the square grayscale image that HOG runs on.
    orientations : int, default=9
        Number of gradient orientation bins (unsigned, over 0-180 degrees).
    pixels_per_cell : int, default=8
        Side in pixels of a square cell.
    cells_per_block : int, default=2
        Side in cells of a square normalisation block.
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        Block normalisation of ``skimage.feature.hog``.

    Notes
    -----
    The crop is converted to luminance with ``skimage.color.rgb2gray`` and resized to a
    square with ``skimage.transform.resize`` (bilinear, Gaussian anti-aliasing when
    shrinking). The aspect ratio is not kept, so a wide crop is squeezed; this matches
    the study the defaults come from. The cost is O(size^2) per crop after the resize.
    """

    def __init__(
        self,
        size=HOGConfig.size,
        orientations=HOGConfig.orientations,
        pixels_per_cell=HOGConfig.pixels_per_cell,
        cells_per_block=HOGConfig.cells_per_block,
        block_norm=HOGConfig.block_norm,
    ):
        self.size = size
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm

    def get_config(self) -> HOGConfig:
        """Return the parameters as a validated :class:`HOGConfig`."""
        return HOGConfig(**self.get_params()).validate()

    def _transform_image(self, image: np.ndarray, config: HOGConfig) -> np.ndarray:
        from skimage.color import rgb2gray
        from skimage.feature import hog
        from skimage.transform import resize

        gray = resize(rgb2gray(image), (config.size, config.size), anti_aliasing=True)
        return hog(
            gray,
            orientations=config.orientations,
            pixels_per_cell=(config.pixels_per_cell, config.pixels_per_cell),
            cells_per_block=(config.cells_per_block, config.cells_per_block),
            block_norm=config.block_norm,
            feature_vector=True,
        )
