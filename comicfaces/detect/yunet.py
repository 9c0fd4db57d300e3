"""YuNet face detector (OpenCV ``cv2.FaceDetectorYN``) run on 640x640 tiles."""

from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from comicfaces.detect.base import (
    Availability,
    Detections,
    FaceDetector,
    check_choice,
    check_image,
    check_integer,
    check_path,
    check_real,
    detect_tiled,
    validate_scales,
)
from comicfaces.detect.models import ModelChecksumError, ModelNotFoundError, require_model_file

logger = logging.getLogger(__name__)

__all__ = ["YuNetDetector"]

#: Model file per YuNet variant. Both networks have a fixed 640x640 input.
YUNET_FILES = {"n": "yunet_n_640_640.onnx", "s": "yunet_s_640_640.onnx"}
YUNET_INPUT_SIZE = 640


@functools.lru_cache(maxsize=8)
def _load_yunet(path: str, score_threshold: float, nms_iou: float, top_k: int):
    # One loaded network per model path and parameter set, so a run over many
    # pages reads and parses the ONNX file once. The lock serialises calls,
    # because a FaceDetectorYN object keeps per-call state and OpenCV does not
    # document it as thread-safe.
    import cv2

    logger.info("loading YuNet from %s", path)
    network = cv2.FaceDetectorYN.create(
        path, "", (YUNET_INPUT_SIZE, YUNET_INPUT_SIZE), score_threshold, nms_iou, top_k
    )
    return network, threading.Lock()


class YuNetDetector(FaceDetector):
    """YuNet (libfacedetection) CNN face detector, tiled over the page.

    The ONNX networks take a fixed 640x640 input, so the page is resized by
    each factor of ``scales`` and cut into overlapping 640x640 tiles.

    Parameters
    ----------
    variant : {"n", "s"}
        ``"n"`` loads ``yunet_n_640_640.onnx``, ``"s"`` loads ``yunet_s_640_640.onnx``.
    score_threshold : float
        Minimum YuNet score in ``(0, 1)``. 0.3 is a low threshold that keeps
        many drawn faces, which score lower than photographs.
    scales : sequence of float
        Page resize factors. At 0.5 a 640 px tile covers 1280 page pixels, so
        faces too large for a tile at 1.0 are found whole.
    tile_overlap : int
        Overlap of neighbouring tiles in pixels, in ``[0, 320]``.
    nms_iou : float
        IoU threshold of YuNet's own NMS and of the NMS across tiles and scales.
    top_k : int
        Maximum number of boxes per tile kept before NMS.
    models_dir : str or None
        Folder searched first for the model file; see
        :func:`comicfaces.detect.models.model_search_dirs`.

    Notes
    -----
    About 0.04 s per tile on one CPU core; a 992x1401 page at scales 1.0 and
    0.5 is 8 tiles. YuNet was trained on photographs (WIDER FACE): it finds
    human faces drawn in a realistic style and misses many animals, profiles
    and stylised faces.
    """

    name = "yunet"
    uses_model_files = True

    def __init__(
        self,
        variant: str = "n",
        score_threshold: float = 0.3,
        scales=(1.0, 0.5),
        tile_overlap: int = 160,
        nms_iou: float = 0.3,
        top_k: int = 5000,
        models_dir: str | None = None,
    ):
        self.variant = variant
        self.score_threshold = score_threshold
        self.scales = scales
        self.tile_overlap = tile_overlap
        self.nms_iou = nms_iou
        self.top_k = top_k
        self.models_dir = models_dir
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        check_choice(self.name, "variant", self.variant, YUNET_FILES)
        check_real(self.name, "score_threshold", self.score_threshold, 0.0, 1.0, low_open=True, high_open=True)
        validate_scales(self.name, self.scales)
        check_integer(self.name, "tile_overlap", self.tile_overlap, 0, YUNET_INPUT_SIZE // 2, unit="pixels")
        check_real(self.name, "nms_iou", self.nms_iou, 0.0, 1.0, low_open=True)
        check_integer(self.name, "top_k", self.top_k, 1)
        check_path(self.name, "models_dir", self.models_dir, optional=True)

    @property
    def model_filename(self) -> str:
        """Name of the ONNX file this variant loads."""
        return YUNET_FILES[self.variant]

    def check(self) -> Availability:
        """Report whether OpenCV has FaceDetectorYN and the model file is present and intact."""
        try:
            import cv2
        except ImportError as error:
            return Availability(False, f"yunet: OpenCV could not be imported ({error}); install opencv-python-headless<5")
        if not hasattr(cv2, "FaceDetectorYN"):
            return Availability(
                False, f"yunet: OpenCV {cv2.__version__} has no FaceDetectorYN; install opencv-python-headless>=4.8,<5"
            )
        try:
            require_model_file(self.model_filename, self.models_dir)
        except (ModelNotFoundError, ModelChecksumError) as error:
            return Availability(False, f"yunet: {error}")
        return Availability(True)

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find faces on an RGB uint8 page.

        Raises
        ------
        ModelNotFoundError, ModelChecksumError
            If the ONNX file is missing or damaged.
        ValueError
            If ``image_rgb`` is not an RGB uint8 array.
        """
        image = check_image(image_rgb)
        path = require_model_file(self.model_filename, self.models_dir)
        network, lock = _load_yunet(str(path), float(self.score_threshold), float(self.nms_iou), int(self.top_k))

        def detect_tile(tile_rgb: np.ndarray):
            # FaceDetectorYN expects BGR. Rows are x, y, w, h, 10 landmark values, score.
            with lock:
                _, faces = network.detect(np.ascontiguousarray(tile_rgb[:, :, ::-1]))
            if faces is None or len(faces) == 0:
                return np.zeros((0, 4)), np.zeros(0)
            boxes = faces[:, :4].astype(np.float64)
            boxes[:, 2:] += boxes[:, :2]
            return boxes, faces[:, -1].astype(np.float64)

        boxes, scores = detect_tiled(
            image,
            detect_tile,
            tile_size=YUNET_INPUT_SIZE,
            tile_overlap=int(self.tile_overlap),
            scales=validate_scales("yunet", self.scales),
            nms_iou=float(self.nms_iou),
        )
        return Detections.from_arrays(boxes, scores, self.name)
