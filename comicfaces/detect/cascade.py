"""Anime-face LBP cascade (OpenCV ``cv2.CascadeClassifier`` with lbpcascade_animeface.xml)."""

from __future__ import annotations

import functools
import logging

import numpy as np

from comicfaces.detect.base import (
    Availability,
    Detections,
    FaceDetector,
    check_image,
    check_integer,
    check_path,
    check_real,
)
from comicfaces.detect.models import ModelChecksumError, ModelNotFoundError, require_model_file

logger = logging.getLogger(__name__)

__all__ = ["CascadeDetector"]

CASCADE_FILE = "lbpcascade_animeface.xml"


@functools.lru_cache(maxsize=4)
def _load_cascade(path: str):
    # One parsed cascade per file; detectMultiScale does not modify it.
    import cv2

    logger.info("loading the anime-face cascade from %s", path)
    classifier = cv2.CascadeClassifier(path)
    if classifier.empty():
        raise ValueError(f"{path}: OpenCV could not parse this cascade file, replace it with a fresh copy")
    return classifier


class CascadeDetector(FaceDetector):
    """LBP cascade trained on anime faces (nagadomi/lbpcascade_animeface).

    Parameters
    ----------
    scale_factor : float
        Image pyramid step, OpenCV's ``scaleFactor``; in ``(1, 2]``.
    min_neighbors : int
        Overlapping raw hits needed to keep a box, OpenCV's ``minNeighbors``; at least 1.
    min_size : int
        Smallest face side searched for, in pixels, OpenCV's ``minSize``; at least 8.
    box_scale : float
        Each box is scaled about its centre by this factor, in ``[0.5, 1.5]``.
        The cascade's boxes include hair and forehead around the face. On the
        35 annotated Pepper&Carrot pages its correct boxes were a median 1.25
        times as wide and high as tight face boxes (forehead to chin, without
        hats and hair masses), hence the default 0.8.
    models_dir : str or None
        Folder searched first for the cascade file; see
        :func:`comicfaces.detect.models.model_search_dirs`.

    Notes
    -----
    The cascade gives no confidence. The score is ``n / (n + min_neighbors)``
    where ``n`` is the number of raw hits merged into the box, so a box that
    just passed ``min_neighbors`` scores 0.5. It ranks boxes but is not a
    probability. The cascade finds frontal anime-style faces with big eyes and
    little else, with few false boxes. About 0.4 s for a 992x1401 page on one
    CPU core at the default parameters. OpenCV 5 wheels have no
    CascadeClassifier.
    """

    name = "cascade"
    uses_model_files = True

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
        box_scale: float = 0.8,
        models_dir: str | None = None,
    ):
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self.box_scale = box_scale
        self.models_dir = models_dir
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        check_real(self.name, "scale_factor", self.scale_factor, 1.0, 2.0, low_open=True)
        check_integer(self.name, "min_neighbors", self.min_neighbors, 1)
        check_integer(self.name, "min_size", self.min_size, 8, unit="pixels")
        check_real(self.name, "box_scale", self.box_scale, 0.5, 1.5)
        check_path(self.name, "models_dir", self.models_dir, optional=True)

    def check(self) -> Availability:
        """Report whether OpenCV has CascadeClassifier and the cascade file is present and intact."""
        try:
            import cv2
        except ImportError as error:
            return Availability(False, f"cascade: OpenCV could not be imported ({error}); install opencv-python-headless<5")
        if not hasattr(cv2, "CascadeClassifier"):
            return Availability(
                False,
                f"cascade: OpenCV {cv2.__version__} has no CascadeClassifier (OpenCV 5 removed it); "
                "install opencv-python-headless>=4.8,<5",
            )
        try:
            require_model_file(CASCADE_FILE, self.models_dir)
        except (ModelNotFoundError, ModelChecksumError) as error:
            return Availability(False, f"cascade: {error}")
        return Availability(True)

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find anime-style faces on an RGB uint8 page.

        Raises
        ------
        ModelNotFoundError, ModelChecksumError
            If the cascade file is missing or damaged.
        """
        import cv2

        image = check_image(image_rgb)
        classifier = _load_cascade(str(require_model_file(CASCADE_FILE, self.models_dir)))

        # The cascade was trained on histogram-equalised grey images.
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        rects, neighbors = classifier.detectMultiScale2(
            gray,
            scaleFactor=float(self.scale_factor),
            minNeighbors=int(self.min_neighbors),
            minSize=(int(self.min_size), int(self.min_size)),
        )
        if len(rects) == 0:
            return Detections.empty()

        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        centers = rects[:, :2] + rects[:, 2:] / 2
        half_sizes = rects[:, 2:] * float(self.box_scale) / 2
        boxes = np.hstack([centers - half_sizes, centers + half_sizes])
        height, width = image.shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        hits = np.asarray(neighbors, dtype=np.float64).reshape(-1)
        scores = hits / (hits + float(self.min_neighbors))
        return Detections.from_arrays(boxes, scores, self.name)
