"""A face detector that runs any ONNX detection network with onnxruntime.

The network must take one image tensor and return its boxes already decoded,
in one of the layouts of :data:`OUTPUT_FORMATS`. This covers networks exported
with their box decoding (and optionally their NMS) inside the graph, such as
YOLO-family exports with post-processing. Networks that return raw feature maps
(anchors, heatmaps) need their own detector class.

Input
    One tensor of shape ``(1, 3, S, S)``, float32, NCHW. The page is resized to
    ``S x S`` (``input_size``) by letterbox (aspect kept, image at the top left,
    the rest filled with ``pad_value``) or by stretching. Channels are RGB or
    BGR (``channel_order``). ``normalization`` scales the values:
    ``"unit"`` divides by 255 (0..1) and ``"byte"`` keeps 0..255.
    ``"imagenet"`` divides by 255, subtracts the ImageNet mean and divides by
    its standard deviation. ``"symmetric"`` maps to -1..1.

Output
    The first output (or the one named ``output_name``) holds one row per box,
    shaped ``(N, K)`` or ``(1, N, K)``, in pixels of the network input:

    ``"xyxy_score"`` (K = 5)
        ``x0, y0, x1, y1, score``.
    ``"cxcywh_score"`` (K = 5)
        ``centre x, centre y, width, height, score``.
    ``"xyxy_score_class"`` (K = 6)
        ``x0, y0, x1, y1, score, class``; only rows whose class equals
        ``face_class`` are kept.

    Scores are compared with ``score_threshold`` as given (no sigmoid). Boxes
    are mapped back to page pixels, clipped to the page, and an IoU NMS runs
    afterwards even when the network has its own.
"""

from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from comicfaces.boxes import nms
from comicfaces.detect.base import (
    Availability,
    Detections,
    FaceDetector,
    check_choice,
    check_image,
    check_integer,
    check_path,
    check_real,
)
from comicfaces.detect.models import model_search_dirs

logger = logging.getLogger(__name__)

__all__ = ["NORMALIZATIONS", "OUTPUT_FORMATS", "OnnxDetector"]

#: Layouts of the output rows and their row length.
OUTPUT_FORMATS = {"xyxy_score": 5, "cxcywh_score": 5, "xyxy_score_class": 6}

#: Input value scalings.
NORMALIZATIONS = ("unit", "byte", "imagenet", "symmetric")

#: Ways to bring a page to the square input.
RESIZE_MODES = ("letterbox", "stretch")

CHANNEL_ORDERS = ("rgb", "bgr")

_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _session(path: str, file_size: int, mtime_ns: int, num_threads: int):
    # Keyed by file size and modification time, so a replaced file is loaded again.
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    logger.info("loading ONNX detector %s", path)
    session = onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    return session, threading.Lock()


class OnnxDetector(FaceDetector):
    """Any ONNX network that outputs decoded boxes, run with onnxruntime on the CPU.

    See the module docstring for the exact input and output contract.

    Parameters
    ----------
    model_path : str
        The ``.onnx`` file: a path, or a bare file name looked up in the model
        folders (``models_dir``, then ``COMICFACES_MODELS``, then
        ``~/.cache/comicfaces/models``).
    input_size : int
        Side of the square network input in pixels, in ``[32, 4096]``. Must
        match the network's fixed input size, if it has one.
    output_format : {"xyxy_score", "cxcywh_score", "xyxy_score_class"}
        Layout of the output rows.
    score_threshold : float
        Minimum score, in ``[0, 1]``, compared with the raw output value.
    nms_iou : float
        IoU threshold of the NMS, in ``(0, 1]``.
    normalization : {"unit", "byte", "imagenet", "symmetric"}
        Input value scaling.
    channel_order : {"rgb", "bgr"}
    resize : {"letterbox", "stretch"}
    pad_value : int
        Grey level of the letterbox padding, in ``[0, 255]``; 114 is the YOLO convention.
    face_class : int
        Class index of faces for ``"xyxy_score_class"``; ignored otherwise.
    output_name : str or None
        Output to read; None reads the first output.
    num_threads : int
        onnxruntime intra-op threads, at least 1.
    models_dir : str or None
        Folder searched first when ``model_path`` is a bare file name.
    """

    name = "onnx"
    uses_model_files = True
    model_file_parameter = "model_path"

    def __init__(
        self,
        model_path: str = "",
        input_size: int = 640,
        output_format: str = "xyxy_score",
        score_threshold: float = 0.5,
        nms_iou: float = 0.4,
        normalization: str = "unit",
        channel_order: str = "rgb",
        resize: str = "letterbox",
        pad_value: int = 114,
        face_class: int = 0,
        output_name: str | None = None,
        num_threads: int = 1,
        models_dir: str | None = None,
    ):
        self.model_path = model_path
        self.input_size = input_size
        self.output_format = output_format
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.normalization = normalization
        self.channel_order = channel_order
        self.resize = resize
        self.pad_value = pad_value
        self.face_class = face_class
        self.output_name = output_name
        self.num_threads = num_threads
        self.models_dir = models_dir
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        check_path(self.name, "model_path", self.model_path, expected="a file path or name")
        check_integer(self.name, "input_size", self.input_size, 32, 4096, unit="pixels")
        check_choice(self.name, "output_format", self.output_format, OUTPUT_FORMATS)
        check_choice(self.name, "normalization", self.normalization, NORMALIZATIONS)
        check_choice(self.name, "channel_order", self.channel_order, CHANNEL_ORDERS)
        check_choice(self.name, "resize", self.resize, RESIZE_MODES)
        check_real(self.name, "score_threshold", self.score_threshold, 0.0, 1.0)
        check_real(self.name, "nms_iou", self.nms_iou, 0.0, 1.0, low_open=True)
        check_integer(self.name, "pad_value", self.pad_value, 0, 255)
        check_integer(self.name, "face_class", self.face_class, 0)
        if self.output_name is not None and not isinstance(self.output_name, str):
            raise ValueError(f"{self.name}: output_name must be None or a string, got {self.output_name!r}")
        check_integer(self.name, "num_threads", self.num_threads, 1)
        check_path(self.name, "models_dir", self.models_dir, optional=True)

    def check(self) -> Availability:
        """Report whether onnxruntime imports and the model file exists."""
        if not str(self.model_path):
            return Availability(False, "onnx: no model_path given; pass the path of an ONNX detection network")
        try:
            import onnxruntime  # noqa: F401
        except ImportError as error:
            return Availability(False, f"onnx: onnxruntime could not be imported ({error}); pip install onnxruntime")
        if self.user_model_file() is None:
            searched = ", ".join(str(folder) for folder in model_search_dirs(self.models_dir))
            return Availability(
                False, f"onnx: model file {str(self.model_path)!r} not found (a bare name is searched in: {searched})"
            )
        return Availability(True)

    def _prepare(self, image: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Return the input tensor and the x and y factors from page to input pixels."""
        import cv2

        height, width = image.shape[:2]
        side = int(self.input_size)
        if self.resize == "stretch":
            scale_x, scale_y = side / width, side / height
            canvas = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)
        else:
            ratio = min(side / width, side / height)
            scale_x = scale_y = ratio
            resized_width, resized_height = max(1, round(width * ratio)), max(1, round(height * ratio))
            canvas = np.full((side, side, 3), int(self.pad_value), dtype=np.uint8)
            canvas[:resized_height, :resized_width] = cv2.resize(
                image, (resized_width, resized_height), interpolation=cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
            )

        # Scale in RGB order, so the ImageNet statistics meet their channels, then reorder.
        values = canvas.astype(np.float32)
        if self.normalization == "unit":
            values /= 255.0
        elif self.normalization == "imagenet":
            values = (values / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD
        elif self.normalization == "symmetric":
            values = values / 127.5 - 1.0
        if self.channel_order == "bgr":
            values = values[..., ::-1]
        tensor = np.ascontiguousarray(values.transpose(2, 0, 1)[None], dtype=np.float32)
        return tensor, scale_x, scale_y

    def _rows(self, output: np.ndarray) -> np.ndarray:
        expected = OUTPUT_FORMATS[self.output_format]
        array = np.asarray(output, dtype=np.float64)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 2 or array.shape[1] != expected:
            raise ValueError(
                f"onnx: output of shape {tuple(np.shape(output))} does not fit output_format={self.output_format!r}, "
                f"which expects (N, {expected}) or (1, N, {expected})"
            )
        return array

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find faces on an RGB uint8 page.

        Raises
        ------
        RuntimeError
            If the detector cannot run here (see :meth:`check`).
        ValueError
            If the network's input or output does not match the parameters
            (the message gives the shapes), or ``image_rgb`` is not RGB uint8.
        """
        status = self.check()
        if not status.ok:
            raise RuntimeError(status.reason)
        image = check_image(image_rgb)
        path = self.user_model_file().resolve()
        stat = path.stat()
        session, lock = _session(str(path), stat.st_size, stat.st_mtime_ns, int(self.num_threads))

        input_meta = session.get_inputs()[0]
        fixed = [dim for dim in input_meta.shape[2:] if isinstance(dim, int)]
        if any(dim != self.input_size for dim in fixed):
            raise ValueError(
                f"onnx: {path.name} expects input {input_meta.shape}, but input_size is {self.input_size}; "
                "set input_size to the network's input side"
            )
        output_names = [output.name for output in session.get_outputs()]
        if self.output_name is not None and self.output_name not in output_names:
            raise ValueError(f"onnx: {path.name} has no output {self.output_name!r}; its outputs are {output_names}")
        output_name = self.output_name or output_names[0]

        tensor, scale_x, scale_y = self._prepare(image)
        with lock:
            (output,) = session.run([output_name], {input_meta.name: tensor})
        rows = self._rows(output)

        if self.output_format == "xyxy_score_class":
            rows = rows[np.round(rows[:, 5]).astype(np.int64) == int(self.face_class)]
        rows = rows[rows[:, 4] >= float(self.score_threshold)]
        boxes = rows[:, :4].copy()
        if self.output_format == "cxcywh_score":
            half = boxes[:, 2:4] / 2
            boxes = np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)
        boxes[:, [0, 2]] /= scale_x
        boxes[:, [1, 3]] /= scale_y
        scores = rows[:, 4].copy()

        height, width = image.shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[valid], scores[valid]
        keep = nms(boxes, scores, iou_threshold=float(self.nms_iou))
        return Detections.from_arrays(boxes[keep], scores[keep], self.name).sorted_by_score()
