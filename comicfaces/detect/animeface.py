"""Anime-face detector of the PyPI package ``animeface`` (nvxs, weights inside the wheel)."""

from __future__ import annotations

import logging

import numpy as np

from comicfaces.detect.base import Availability, Detections, FaceDetector, check_image, check_integer, check_real

logger = logging.getLogger(__name__)

__all__ = ["AnimeFaceDetector"]

#: First Pillow major version with which animeface 2.0.3 returns no face at all.
PILLOW_BREAKING_MAJOR = 12


def _pillow_major() -> int:
    import PIL

    return int(PIL.__version__.split(".")[0])


class AnimeFaceDetector(FaceDetector):
    """Anime-face detector ``animeface`` (nvxs by nagadomi, packaged by Shuhei Takahashi).

    Parameters
    ----------
    max_side : int or None
        The page is downscaled so that its longer side is at most this many
        pixels before detection, and boxes are scaled back. None runs at full
        size. On the 35 annotated Pepper&Carrot pages (992x1401), 1024 took
        1.0 s a page instead of 3.0 s but found 17 faces instead of 27.
    min_likelihood : float
        Boxes with a lower animeface likelihood are dropped; in ``[0, 1)``.

    Notes
    -----
    Slow: 0.2-20 s per page on one CPU core, depending on page size and
    content. animeface 2.0.3 returns no face with Pillow 12 or newer, so
    :meth:`check` reports it unavailable there.
    """

    name = "animeface"
    uses_model_files = False

    def __init__(self, max_side: int | None = None, min_likelihood: float = 0.5):
        self.max_side = max_side
        self.min_likelihood = min_likelihood
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        check_integer(self.name, "max_side", self.max_side, 64, optional=True, unit="pixels")
        check_real(self.name, "min_likelihood", self.min_likelihood, 0.0, 1.0, high_open=True)

    def check(self) -> Availability:
        """Report whether the animeface package imports and works with the installed Pillow."""
        try:
            import animeface  # noqa: F401
        except ImportError as error:
            return Availability(False, f"animeface: the package could not be imported ({error}); pip install animeface")
        try:
            major = _pillow_major()
        except ImportError as error:
            return Availability(False, f"animeface: Pillow could not be imported ({error}); pip install 'Pillow<12'")
        if major >= PILLOW_BREAKING_MAJOR:
            import PIL

            return Availability(
                False,
                f"animeface: finds no faces with Pillow {PIL.__version__} (Pillow {PILLOW_BREAKING_MAJOR} or newer); "
                f"pip install 'Pillow<{PILLOW_BREAKING_MAJOR}'",
            )
        return Availability(True)

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find anime-style faces on an RGB uint8 page.

        Raises
        ------
        RuntimeError
            If animeface cannot run here (see :meth:`check`).
        """
        status = self.check()
        if not status.ok:
            raise RuntimeError(status.reason)

        import animeface
        from PIL import Image

        image = check_image(image_rgb)
        height, width = image.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            import cv2

            scale = self.max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)

        faces = animeface.detect(Image.fromarray(image))
        boxes = []
        scores = []
        for face in faces:
            if face.likelihood < self.min_likelihood:
                continue
            box = face.face.pos
            boxes.append([box.x, box.y, box.x + box.width, box.y + box.height])
            scores.append(float(face.likelihood))
        if not boxes:
            return Detections.empty()

        boxes = np.asarray(boxes, dtype=np.float64) / scale
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return Detections.from_arrays(boxes, scores, self.name)
