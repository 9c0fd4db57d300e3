"""Local binary pattern (LBP) histograms of grayscale face crops."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.validation import check_choice, check_float, check_int

logger = logging.getLogger(__name__)

#: Methods of ``skimage.feature.local_binary_pattern`` that give integer codes.
#: ``"var"`` is left out because it returns a continuous contrast measure, not codes.
LBP_METHODS = ("uniform", "nri_uniform", "ror", "default")

#: Largest ``P`` for the methods whose code range is ``2**P``, which keeps one
#: cell's histogram at most 65536 bins long.
MAX_P_FULL_CODES = 16


@dataclass(frozen=True)
class LBPConfig:
    """Parameters of :class:`LBPFeatures`.

    The defaults are the rotation-invariant uniform patterns of Ojala et al. (2002)
    with 8 neighbours on a circle of radius 1 over the whole 64 x 64 px face, which
    gives 10 values per face.
    """

    P: int = 8
    R: float = 1.0
    method: str = "uniform"
    size: int = 64
    grid: tuple[int, int] = (1, 1)

    def validate(self) -> LBPConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("P", self.P, 1, 32)
        check_float("R", self.R, 0.0, include_minimum=False)
        check_choice("method", self.method, LBP_METHODS)
        check_int("size", self.size, 8)

        if self.method in ("default", "ror") and self.P > MAX_P_FULL_CODES:
            raise ValueError(
                f"P must be at most {MAX_P_FULL_CODES} for method {self.method!r}, whose "
                f"histogram has 2**P bins per cell; got {self.P}. Use method 'uniform' "
                "or 'nri_uniform' for more neighbours"
            )
        if self.R >= self.size / 2:
            raise ValueError(
                f"R must be less than size / 2 = {self.size / 2}, got {self.R}; the circle "
                "of neighbours would not fit in the image"
            )

        grid = self.grid
        if not isinstance(grid, (tuple, list)) or len(grid) != 2:
            raise ValueError(f"grid must be a pair (rows, columns) of integers, got {grid!r}")
        check_int("grid rows", grid[0], 1, self.size)
        check_int("grid columns", grid[1], 1, self.size)
        return self

    @property
    def n_bins(self) -> int:
        """Number of distinct codes, the length of one cell's histogram."""
        if self.method == "uniform":
            return self.P + 2
        if self.method == "nri_uniform":
            return self.P * (self.P - 1) + 3
        return 2**self.P

    @property
    def n_features(self) -> int:
        """Length of one LBP vector: one histogram per grid cell."""
        return self.grid[0] * self.grid[1] * self.n_bins


class LBPFeatures(ImageFeatureExtractor):
    """Histograms of local binary patterns of each crop, one per grid cell.

    Parameters
    ----------
    P : int, default=8
        Number of neighbours on the circle, 1 to 32 (at most 16 for ``"default"``
        and ``"ror"``).
    R : float, default=1.0
        Radius of the circle in pixels of the resized image, above 0 and below
        ``size / 2``.
    method : {"uniform", "nri_uniform", "ror", "default"}, default="uniform"
        Code mapping of ``skimage.feature.local_binary_pattern``. ``"uniform"`` is
        rotation invariant with ``P + 2`` codes; ``"nri_uniform"`` is not rotation
        invariant and has ``P * (P - 1) + 3`` codes; ``"ror"`` and ``"default"`` use
        ``2**P`` codes.
    size : int, default=64
        Side in pixels of the square grayscale image the patterns are computed on.
    grid : tuple of (int, int), default=(1, 1)
        Rows and columns of cells. Each cell gets its own histogram and the
        histograms are concatenated row by row, which keeps coarse layout (eyes
        above mouth) that a single histogram discards.

    Notes
    -----
    The crop is converted to luminance with ``skimage.color.rgb2gray`` and resized to
    a square with ``skimage.transform.resize`` (bilinear, Gaussian anti-aliasing when
    shrinking), as :class:`~comicfaces.features.hog.HOGFeatures` does. It is then
    quantised to ``uint8``, because skimage warns that LBP on floating-point images
    is unstable where neighbours differ by rounding noise. Neighbours outside the
    image count as 0, so border pixels get their own codes. The cell borders come from
    ``numpy.array_split``, so cells differ by at most one pixel when ``size`` is not
    a multiple of the grid. Each cell's histogram is divided by the cell's pixel
    count, so it sums to 1. The cost is O(size^2 * P) per crop.
    """

    def __init__(
        self,
        P=LBPConfig.P,
        R=LBPConfig.R,
        method=LBPConfig.method,
        size=LBPConfig.size,
        grid=LBPConfig.grid,
    ):
        self.P = P
        self.R = R
        self.method = method
        self.size = size
        self.grid = grid

    def get_config(self) -> LBPConfig:
        """Return the parameters as a validated :class:`LBPConfig`."""
        params = self.get_params()

        # JSON and YAML configuration files have no tuples, so a grid arrives as a list.
        if isinstance(params["grid"], list):
            params["grid"] = tuple(params["grid"])
        return LBPConfig(**params).validate()

    def _transform_image(self, image: np.ndarray, config: LBPConfig) -> np.ndarray:
        from skimage.color import rgb2gray
        from skimage.feature import local_binary_pattern
        from skimage.transform import resize

        gray = resize(rgb2gray(image), (config.size, config.size), anti_aliasing=True)
        gray = np.clip(np.rint(gray * 255), 0, 255).astype(np.uint8)
        codes = local_binary_pattern(gray, config.P, config.R, method=config.method)
        codes = codes.astype(np.int64)

        histograms = []
        for band in np.array_split(codes, config.grid[0], axis=0):
            for cell in np.array_split(band, config.grid[1], axis=1):
                counts = np.bincount(cell.ravel(), minlength=config.n_bins)
                histograms.append(counts / cell.size)
        return np.concatenate(histograms)
