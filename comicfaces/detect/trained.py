"""The face detector trained by :func:`comicfaces.detect.train.train_detector`, as a registry detector."""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

import numpy as np

from comicfaces.boxes import nms
from comicfaces.detect.base import (
    Availability,
    Detections,
    FaceDetector,
    check_image,
    check_integer,
    check_path,
    check_real,
    detect_tiled,
)
from comicfaces.detect.models import model_search_dirs
from comicfaces.detect.train import MODEL_CONFIG_NAME, MODEL_WEIGHTS_NAME

logger = logging.getLogger(__name__)

__all__ = ["TrainedDetector"]

#: Input sides are padded up to a multiple of this (the network's deepest stride).
_INPUT_MULTIPLE = 32

#: Grey level of the padding: white, like page margins and the training crops' padding.
_PAD_VALUE = 255


@functools.lru_cache(maxsize=4)
def _load(weights: str, size: int, mtime_ns: int, device: str):
    # Keyed by file size and modification time, so a retrained model is reloaded.
    from comicfaces.detect.train import load_trained_model

    logger.info("loading the trained face detector from %s", weights)
    model, document = load_trained_model(Path(weights).parent, device=device)
    return model, document, threading.Lock()


class TrainedDetector(FaceDetector):
    """CenterNet face detector trained by this package (EfficientNet-Lite0 backbone).

    The page is resized so that its longer side has ``max_side`` pixels, padded
    with white to a multiple of 32 and run whole, or cut into square tiles
    when ``tile_size`` is set. Heatmap peaks (3x3 max-pool NMS) scoring at
    least ``score_threshold`` become boxes, and an IoU NMS removes duplicates.

    Parameters
    ----------
    model_path : str
        Folder written by :func:`comicfaces.detect.train.train_detector`
        (``detector.pt`` and ``detector.json``), or one of those two files. A
        bare folder name that does not exist in the working folder is looked
        up in the model folders (``models_dir``, then ``COMICFACES_MODELS``,
        then ``~/.cache/comicfaces/models``).
    score_threshold : float
        Minimum heatmap score, in ``(0, 1)``.
    max_side : int or None
        Longer side of the resized page in pixels, in ``[128, 8192]``; None
        uses the value the model was trained for (stored in ``detector.json``).
    tile_size : int or None
        None runs the whole resized page at once. An integer in ``[128, 4096]``,
        a multiple of 32, cuts the resized page into tiles of that side that
        overlap by a quarter, which bounds memory on large pages.
    nms_iou : float
        IoU above which the lower-scoring of two boxes is dropped, in ``(0, 1]``.
    max_detections : int
        Maximum number of heatmap peaks read per page (or tile), in ``[1, 10000]``.
    device : str
        ``"cpu"`` (the default), ``"auto"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    models_dir : str or None
        Model folder searched first for a bare ``model_path`` name.

    Notes
    -----
    The cost grows with ``max_side ** 2``. In ``benchmarks/train_detector.py``
    992x1401 pages at ``max_side=1024`` took 0.3 s each on a 2-core CPU shared
    with other jobs (the three offline detectors of the default took 0.55 s).
    Loaded networks are cached per weights file (its size and modification
    time) and device, four at most.
    """

    name = "trained"
    uses_model_files = True

    def __init__(
        self,
        model_path: str = "",
        score_threshold: float = 0.3,
        max_side: int | None = None,
        tile_size: int | None = None,
        nms_iou: float = 0.4,
        max_detections: int = 200,
        device: str = "cpu",
        models_dir: str | None = None,
    ):
        self.model_path = model_path
        self.score_threshold = score_threshold
        self.max_side = max_side
        self.tile_size = tile_size
        self.nms_iou = nms_iou
        self.max_detections = max_detections
        self.device = device
        self.models_dir = models_dir
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        from comicfaces.nn.device import check_device

        check_path(self.name, "model_path", self.model_path)
        check_real(self.name, "score_threshold", self.score_threshold, 0.0, 1.0, low_open=True, high_open=True)
        check_integer(self.name, "max_side", self.max_side, 128, 8192, optional=True, unit="pixels")
        check_integer(
            self.name, "tile_size", self.tile_size, 128, 4096, multiple_of=_INPUT_MULTIPLE, optional=True, unit="pixels"
        )
        check_real(self.name, "nms_iou", self.nms_iou, 0.0, 1.0, low_open=True)
        check_integer(self.name, "max_detections", self.max_detections, 1, 10000)
        check_device(f"{self.name}: device", self.device)
        check_path(self.name, "models_dir", self.models_dir, optional=True)

    def model_folder(self) -> Path:
        """Return the model folder: ``model_path``, or the first model folder containing a bare name.

        A bare name that is not a file or folder here is searched in
        ``models_dir``, ``$COMICFACES_MODELS`` and ``~/.cache/comicfaces/models``.
        The path is returned unchanged when nothing is found.
        """
        path = Path(self.model_path).expanduser()
        if path.exists() or path.name != str(self.model_path):
            return path
        for folder in model_search_dirs(self.models_dir):
            if (folder / path.name / MODEL_WEIGHTS_NAME).is_file():
                return folder / path.name
        return path

    def check(self) -> Availability:
        """Report whether torch, the EfficientNet model code and the model files are present."""
        if not str(self.model_path):
            return Availability(
                False, "trained: no model_path given; train a model with comicfaces.detect.train.train_detector first"
            )
        for module, package in (("torch", "torch"), ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")):
            try:
                __import__(module)
            except ImportError as error:
                return Availability(False, f"trained: {module} could not be imported ({error}); pip install {package}")
        from comicfaces.detect.train import read_model_config

        folder = self.model_folder()
        if not folder.exists():
            searched = ", ".join(str(path) for path in model_search_dirs(self.models_dir))
            return Availability(
                False,
                f"trained: model folder {str(self.model_path)!r} not found (a bare name is searched in: {searched}); "
                f"train a model, which writes {MODEL_WEIGHTS_NAME} and {MODEL_CONFIG_NAME} into a folder, with "
                "`python -m comicfaces train-detector` or on the Review page",
            )
        try:
            read_model_config(folder)
        except (FileNotFoundError, ValueError) as error:
            return Availability(False, f"trained: {error}")
        return Availability(True)

    def model_files(self) -> list[Path]:
        """Return ``detector.pt`` and ``detector.json`` when both exist, else an empty list."""
        from comicfaces.detect.train import resolve_model_files

        if not str(self.model_path):
            return []
        try:
            return list(resolve_model_files(self.model_folder()))
        except FileNotFoundError:
            return []

    def _network(self):
        from comicfaces.detect.train import resolve_model_files
        from comicfaces.nn.device import resolve_device

        weights, _ = resolve_model_files(self.model_folder())
        stat = weights.stat()
        return _load(str(weights.resolve()), stat.st_size, stat.st_mtime_ns, str(resolve_device(self.device)))

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find faces on an RGB uint8 page.

        Raises
        ------
        RuntimeError
            If the detector cannot run here (see :meth:`check`).
        ValueError
            If ``image_rgb`` is not an RGB uint8 array, or the model files are invalid.
        """
        status = self.check()
        if not status.ok:
            raise RuntimeError(status.reason)
        image = check_image(image_rgb)
        model, document, lock = self._network()
        max_side = int(self.max_side if self.max_side is not None else document["max_side"])
        stride = int(document["architecture"]["output_stride"])
        scale = max_side / max(image.shape[:2])

        def run(tile_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            with lock:
                return self._run_network(model, stride, tile_rgb)

        if self.tile_size is None:
            boxes, scores = self._detect_whole(image, scale, run)
        else:
            tile = int(self.tile_size)
            boxes, scores = detect_tiled(
                image,
                run,
                tile_size=tile,
                tile_overlap=tile // 4,
                scales=(scale,),
                nms_iou=float(self.nms_iou),
                pad_value=_PAD_VALUE,
            )
        return Detections.from_arrays(boxes, scores, self.name).sorted_by_score()

    def _detect_whole(self, image: np.ndarray, scale: float, run) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        height, width = image.shape[:2]
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = cv2.resize(image, size, interpolation=interpolation) if scale != 1.0 else image
        boxes, scores = run(resized)
        boxes = boxes / scale
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[valid], scores[valid]
        keep = nms(boxes, scores, iou_threshold=float(self.nms_iou))
        return boxes[keep], scores[keep]

    def _run_network(self, model, stride: int, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return boxes in pixels of ``image`` and their scores."""
        import cv2
        import torch

        from comicfaces.nn.centernet import decode_centernet
        from comicfaces.nn.preprocess import to_network_input

        height, width = image.shape[:2]
        padded = cv2.copyMakeBorder(
            image,
            0,
            -height % _INPUT_MULTIPLE,
            0,
            -width % _INPUT_MULTIPLE,
            cv2.BORDER_CONSTANT,
            value=(_PAD_VALUE, _PAD_VALUE, _PAD_VALUE),
        )
        device = next(model.parameters()).device
        batch = torch.from_numpy(np.ascontiguousarray(padded)).permute(2, 0, 1).unsqueeze(0)
        with torch.inference_mode():
            outputs = model(to_network_input(batch, device))
            (boxes, scores), = decode_centernet(outputs, stride, float(self.score_threshold), int(self.max_detections))
        return boxes, scores
