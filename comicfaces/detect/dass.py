"""DASS, the YOLOX-based face and body detector for drawings, rebuilt to load its published weights.

DASS (Topal, Yanikoglu and Akgul, 2022, "Domain-Adaptive Self-Supervised
Pre-training for Face & Body Detection in Drawings", arXiv:2211.10641) reports
about 87 AP on Manga109 faces and 78-86 AP on DCM772 faces. Its network is
YOLOX (Ge et al., 2021, "YOLOX: Exceeding YOLO Series in 2021",
arXiv:2107.08430) with one shared set of head stems and two one-class heads,
one for faces and one for bodies.

The network here was written from the YOLOX paper's description (CSPDarknet
backbone with a Focus stem and an SPP block, PAFPN neck, decoupled anchor-free
head) and from the parameter names and shapes a DASS checkpoint contains. The
DASS repository has no licence, so none of its code is copied. Assumed, and not
checked against real weights here:

- Module names follow YOLOX's layout (``backbone.backbone.dark2...``,
  ``backbone.C3_p4...``, ``head_stem.stems.N``, ``face_head.reg_convs.N``,
  ``face_head.reg_preds.N``, ``face_head.obj_preds.N`` and the same under
  ``body_head``). Each head has only the regression branch: two 3x3
  convolutions, then a 4-channel box output and a 1-channel objectness output.
  The face score is the objectness.
- Convolutions are not depthwise, activations are SiLU, batch norms keep
  PyTorch's default epsilon of 1e-5 (the DASS inference notebook builds the
  model without YOLOX's ``init_yolo``, which would set 1e-3).
- Input: BGR channel order, values 0-255 without normalisation, letterboxed to
  a square (resized by ``min(S / h, S / w)``, placed at the top left, padded
  with grey 114), as in YOLOX since version 0.2.
- Sizes: ``xs`` has depth and width multipliers (0.33, 0.375), ``xl`` has
  (1.33, 1.25), as the DASS README states.

Weights: DASS publishes them as ``.pth`` files in a Google Drive folder linked
from the README of the GitHub repository ``barisbatuhan/DASS_Det_Inference``
(section "Pre-trained Weights"). comicfaces does not ship or download them. A file
whose name contains ``xs`` needs ``size="xs"``, one with ``xl`` needs
``size="xl"``. The checkpoints are dicts with the state dict under ``model``,
or under ``teacher_model`` for the self-supervised stage-2 weights.

The network code imports torch only when a detector is first run.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

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

__all__ = ["DASS_SIZES", "DASSDetector", "build_dass_network", "load_dass_state_dict"]

#: Depth and width multipliers of the DASS model sizes.
DASS_SIZES = {"xs": (0.33, 0.375), "xl": (1.33, 1.25)}

#: Strides of the three YOLOX output levels.
YOLOX_STRIDES = (8, 16, 32)

#: Grey level of the letterbox padding in YOLOX preprocessing.
YOLOX_PAD_VALUE = 114

#: Keys under which training checkpoints keep the state dict, in order of preference.
CHECKPOINT_KEYS = ("teacher_model", "model", "state_dict")


@functools.lru_cache(maxsize=1)
def _yolox_modules() -> SimpleNamespace:
    """Define the YOLOX building blocks; deferred so that importing this module does not load torch."""
    import torch
    from torch import nn

    class BaseConv(nn.Module):
        """Convolution, batch norm and SiLU; ``same`` padding for odd kernels."""

        def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
            super().__init__()
            self.conv = nn.Conv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False
            )
            self.bn = nn.BatchNorm2d(out_channels)
            self.act = nn.SiLU(inplace=True)

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    class Bottleneck(nn.Module):
        """1x1 then 3x3 convolution, with a residual sum when the channel counts match."""

        def __init__(self, in_channels: int, out_channels: int, shortcut: bool):
            super().__init__()
            self.conv1 = BaseConv(in_channels, out_channels, 1)
            self.conv2 = BaseConv(out_channels, out_channels, 3)
            self.use_add = shortcut and in_channels == out_channels

        def forward(self, x):
            y = self.conv2(self.conv1(x))
            return y + x if self.use_add else y

    class CSPLayer(nn.Module):
        """Cross-stage partial block: half the channels go through ``n`` bottlenecks, then both halves are joined."""

        def __init__(self, in_channels: int, out_channels: int, n: int, shortcut: bool = True):
            super().__init__()
            hidden = int(out_channels * 0.5)
            self.conv1 = BaseConv(in_channels, hidden, 1)
            self.conv2 = BaseConv(in_channels, hidden, 1)
            self.conv3 = BaseConv(2 * hidden, out_channels, 1)
            self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut) for _ in range(n)])

        def forward(self, x):
            return self.conv3(torch.cat([self.m(self.conv1(x)), self.conv2(x)], dim=1))

    class SPPBottleneck(nn.Module):
        """Spatial pyramid pooling: max pools of 5, 9 and 13 pixels, concatenated with the input."""

        def __init__(self, in_channels: int, out_channels: int, kernel_sizes=(5, 9, 13)):
            super().__init__()
            hidden = in_channels // 2
            self.conv1 = BaseConv(in_channels, hidden, 1)
            self.m = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernel_sizes)
            self.conv2 = BaseConv(hidden * (len(kernel_sizes) + 1), out_channels, 1)

        def forward(self, x):
            x = self.conv1(x)
            return self.conv2(torch.cat([x] + [pool(x) for pool in self.m], dim=1))

    class Focus(nn.Module):
        """Space-to-depth: four pixel-phase sub-images stacked on channels, then a convolution."""

        def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
            super().__init__()
            self.conv = BaseConv(in_channels * 4, out_channels, kernel_size)

        def forward(self, x):
            # Phase order: (even row, even column), (odd, even), (even, odd), (odd, odd).
            x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], dim=1)
            return self.conv(x)

    class CSPDarknet(nn.Module):
        """YOLOX backbone; returns the stride-8, -16 and -32 feature maps."""

        def __init__(self, depth: float, width: float):
            super().__init__()
            base = int(width * 64)
            n = max(round(depth * 3), 1)
            self.stem = Focus(3, base, 3)
            self.dark2 = nn.Sequential(BaseConv(base, base * 2, 3, 2), CSPLayer(base * 2, base * 2, n))
            self.dark3 = nn.Sequential(BaseConv(base * 2, base * 4, 3, 2), CSPLayer(base * 4, base * 4, n * 3))
            self.dark4 = nn.Sequential(BaseConv(base * 4, base * 8, 3, 2), CSPLayer(base * 8, base * 8, n * 3))
            self.dark5 = nn.Sequential(
                BaseConv(base * 8, base * 16, 3, 2),
                SPPBottleneck(base * 16, base * 16),
                CSPLayer(base * 16, base * 16, n, shortcut=False),
            )

        def forward(self, x):
            x = self.dark2(self.stem(x))
            c3 = self.dark3(x)
            c4 = self.dark4(c3)
            c5 = self.dark5(c4)
            return c3, c4, c5

    class PAFPN(nn.Module):
        """YOLOX neck: a top-down path, then a bottom-up path (path aggregation)."""

        def __init__(self, depth: float, width: float):
            super().__init__()
            c3, c4, c5 = (int(c * width) for c in (256, 512, 1024))
            n = round(3 * depth)
            self.backbone = CSPDarknet(depth, width)
            self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
            self.lateral_conv0 = BaseConv(c5, c4, 1)
            self.C3_p4 = CSPLayer(2 * c4, c4, n, shortcut=False)
            self.reduce_conv1 = BaseConv(c4, c3, 1)
            self.C3_p3 = CSPLayer(2 * c3, c3, n, shortcut=False)
            self.bu_conv2 = BaseConv(c3, c3, 3, 2)
            self.C3_n3 = CSPLayer(2 * c3, c4, n, shortcut=False)
            self.bu_conv1 = BaseConv(c4, c4, 3, 2)
            self.C3_n4 = CSPLayer(2 * c4, c5, n, shortcut=False)

        def forward(self, x):
            x3, x4, x5 = self.backbone(x)
            top5 = self.lateral_conv0(x5)
            merged4 = self.C3_p4(torch.cat([self.upsample(top5), x4], dim=1))
            top4 = self.reduce_conv1(merged4)
            out3 = self.C3_p3(torch.cat([self.upsample(top4), x3], dim=1))
            out4 = self.C3_n3(torch.cat([self.bu_conv2(out3), top4], dim=1))
            out5 = self.C3_n4(torch.cat([self.bu_conv1(out4), top5], dim=1))
            return out3, out4, out5

    class HeadStem(nn.Module):
        """1x1 convolutions that bring every level to the head width; shared by the face and body heads."""

        def __init__(self, width: float):
            super().__init__()
            channels = [int(c * width) for c in (256, 512, 1024)]
            self.stems = nn.ModuleList(BaseConv(c, int(256 * width), 1) for c in channels)

        def forward(self, levels):
            return [stem(level) for stem, level in zip(self.stems, levels)]

    class ObjectnessHead(nn.Module):
        """One-class YOLOX head without a class branch: box regression and objectness per cell."""

        def __init__(self, width: float):
            super().__init__()
            channels = int(256 * width)
            self.reg_convs = nn.ModuleList(
                nn.Sequential(BaseConv(channels, channels, 3), BaseConv(channels, channels, 3)) for _ in YOLOX_STRIDES
            )
            self.reg_preds = nn.ModuleList(nn.Conv2d(channels, 4, 1) for _ in YOLOX_STRIDES)
            self.obj_preds = nn.ModuleList(nn.Conv2d(channels, 1, 1) for _ in YOLOX_STRIDES)

        def forward(self, levels):
            """Return ``(n, cells, 5)``: centre x, centre y, width, height in input pixels, and the score."""
            outputs = []
            for index, (level, stride) in enumerate(zip(levels, YOLOX_STRIDES)):
                features = self.reg_convs[index](level)
                box = self.reg_preds[index](features)
                score = torch.sigmoid(self.obj_preds[index](features))
                n, _, height, width = box.shape
                ys, xs = torch.meshgrid(
                    torch.arange(height, device=box.device), torch.arange(width, device=box.device), indexing="ij"
                )
                grid = torch.stack([xs, ys], dim=-1).reshape(1, -1, 2).to(box.dtype)
                box = box.flatten(2).permute(0, 2, 1)
                # YOLOX decoding: the offset is added to the cell's top-left corner, sizes are log-scale.
                centre = (box[..., :2] + grid) * stride
                size = torch.exp(box[..., 2:4]) * stride
                outputs.append(torch.cat([centre, size, score.flatten(2).permute(0, 2, 1)], dim=-1))
            return torch.cat(outputs, dim=1)

    class DASSNetwork(nn.Module):
        """PAFPN backbone, shared head stems, and one-class face and body heads."""

        def __init__(self, depth: float, width: float):
            super().__init__()
            self.backbone = PAFPN(depth, width)
            self.head_stem = HeadStem(width)
            self.face_head = ObjectnessHead(width)
            self.body_head = ObjectnessHead(width)

        def forward(self, x, heads: str = "face"):
            """Run the network; ``heads`` is ``"face"``, ``"body"`` or ``"both"`` (returns a pair)."""
            levels = self.head_stem(self.backbone(x))
            if heads == "face":
                return self.face_head(levels)
            if heads == "body":
                return self.body_head(levels)
            return self.face_head(levels), self.body_head(levels)

    return SimpleNamespace(DASSNetwork=DASSNetwork)


def build_dass_network(size: str = "xs"):
    """Build a randomly initialised DASS network of ``size`` (``"xs"`` or ``"xl"``), in eval mode.

    Raises
    ------
    ValueError
        For an unknown size.
    """
    if size not in DASS_SIZES:
        raise ValueError(f"DASS size must be one of {', '.join(DASS_SIZES)}, got {size!r}")
    depth, width = DASS_SIZES[size]
    return _yolox_modules().DASSNetwork(depth, width).eval()


def load_dass_state_dict(path: str | os.PathLike) -> dict:
    """Read a DASS weights file with ``torch.load(weights_only=True)`` and return its state dict.

    Accepts a bare state dict or a checkpoint dict with the state dict under
    ``teacher_model`` (stage-2 self-supervised weights), ``model`` or
    ``state_dict``. A ``module.`` prefix (saved from ``DataParallel``) is removed.

    Raises
    ------
    ValueError
        If the file cannot be read with ``weights_only=True`` or contains no state dict.
    """
    import torch

    try:
        loaded = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several unpickling error types
        raise ValueError(
            f"{path}: could not read the weights with torch.load(weights_only=True) ({error}); "
            "expected a DASS .pth checkpoint"
        ) from error
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path}: expected a state dict or a checkpoint dict, got {type(loaded).__name__}")

    state = loaded
    for key in CHECKPOINT_KEYS:
        if isinstance(loaded.get(key), Mapping):
            state = loaded[key]
            break
    if not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ValueError(
            f"{path}: no state dict found; top-level keys are {sorted(map(str, loaded))[:10]}, "
            f"expected tensors or one of {', '.join(CHECKPOINT_KEYS)}"
        )
    return {str(key).removeprefix("module."): value for key, value in state.items()}


@functools.lru_cache(maxsize=2)
def _load_network(path: str, file_size: int, mtime_ns: int, size: str, device: str):
    # Keyed by file size and modification time, so a replaced file is read again.
    import torch

    logger.info("loading DASS-%s weights from %s", size, path)
    network = build_dass_network(size)
    state = load_dass_state_dict(path)
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path}: the weights do not fit the DASS-{size} network; "
            f"missing keys ({len(missing)}): {missing[:5]}; unexpected keys ({len(unexpected)}): {unexpected[:5]}. "
            "Check that the file is a DASS checkpoint."
        )
    wrong_shape = [key for key in expected if tuple(state[key].shape) != tuple(expected[key].shape)]
    if wrong_shape:
        key = wrong_shape[0]
        other = "xl" if size == "xs" else "xs"
        raise ValueError(
            f"{path}: {len(wrong_shape)} tensors have other shapes than DASS-{size} expects, e.g. {key} "
            f"{tuple(state[key].shape)} instead of {tuple(expected[key].shape)}; "
            f"the file may be a DASS-{other} model (use size={other!r})"
        )
    network.load_state_dict(state, strict=True)
    return network.to(torch.device(device)).eval(), threading.Lock()


class DASSDetector(FaceDetector):
    """DASS face detector (YOLOX network for drawings); needs the published weights file.

    Parameters
    ----------
    weights_path : str
        The DASS ``.pth`` file: a path, or a bare file name looked up in the
        model folders (``models_dir``, then ``COMICFACES_MODELS``, then
        ``~/.cache/comicfaces/models``).
    size : {"xs", "xl"}
        Model size the file was trained with (its name contains it).
    score_threshold : float
        Minimum objectness, in ``(0, 1)``. The default 0.65 is the value of the
        DASS authors' visualisation notebook.
    input_size : int
        Side of the square letterbox input in pixels, a multiple of 32 in
        ``[256, 2048]``. The authors' notebook uses 1024. Larger sizes find
        smaller faces and cost about ``input_size ** 2``.
    nms_iou : float
        IoU threshold of the NMS, in ``(0, 1]``; the authors' notebook uses 0.4.
    device : str
        ``"cpu"``, ``"auto"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    models_dir : str or None
        Folder searched first when ``weights_path`` is a bare file name.

    Notes
    -----
    Only the face head runs; the body head's weights are loaded and unused.
    NOTE: the network was rebuilt for this package and has not been run with
    the real DASS weights. The module docstring lists what is assumed.
    """

    name = "dass"
    uses_model_files = True
    model_file_parameter = "weights_path"

    def __init__(
        self,
        weights_path: str = "",
        size: str = "xs",
        score_threshold: float = 0.65,
        input_size: int = 1024,
        nms_iou: float = 0.4,
        device: str = "cpu",
        models_dir: str | None = None,
    ):
        self.weights_path = weights_path
        self.size = size
        self.score_threshold = score_threshold
        self.input_size = input_size
        self.nms_iou = nms_iou
        self.device = device
        self.models_dir = models_dir
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid parameter."""
        from comicfaces.nn.device import check_device

        check_path(self.name, "weights_path", self.weights_path, expected="a file path or name")
        check_choice(self.name, "size", self.size, DASS_SIZES)
        check_real(self.name, "score_threshold", self.score_threshold, 0.0, 1.0, low_open=True, high_open=True)
        check_integer(self.name, "input_size", self.input_size, 256, 2048, multiple_of=32, unit="pixels")
        check_real(self.name, "nms_iou", self.nms_iou, 0.0, 1.0, low_open=True)
        check_device(f"{self.name}: device", self.device)
        check_path(self.name, "models_dir", self.models_dir, optional=True)

    def check(self) -> Availability:
        """Report whether torch imports and the weights file exists."""
        if not str(self.weights_path):
            return Availability(
                False,
                "dass: no weights_path given; download a DASS .pth file (Google Drive folder linked from the README "
                "of github.com/barisbatuhan/DASS_Det_Inference) and pass its path",
            )
        try:
            import torch  # noqa: F401
        except ImportError as error:
            return Availability(False, f"dass: torch could not be imported ({error}); pip install torch")
        if self.user_model_file() is None:
            searched = ", ".join(str(folder) for folder in model_search_dirs(self.models_dir))
            return Availability(
                False,
                f"dass: weights file {str(self.weights_path)!r} not found (a bare name is searched in: {searched}); "
                "download it from the Google Drive folder linked in the README of "
                "github.com/barisbatuhan/DASS_Det_Inference",
            )
        return Availability(True)

    def detect(self, image_rgb: np.ndarray) -> Detections:
        """Find faces on an RGB uint8 page.

        Raises
        ------
        RuntimeError
            If the detector cannot run here (see :meth:`check`).
        ValueError
            If the weights file does not fit the network (the message lists the
            missing and unexpected keys) or ``image_rgb`` is not RGB uint8.
        """
        import cv2
        import torch

        from comicfaces.nn.device import resolve_device

        status = self.check()
        if not status.ok:
            raise RuntimeError(status.reason)
        image = check_image(image_rgb)
        weights = self.user_model_file().resolve()
        stat = weights.stat()
        network, lock = _load_network(
            str(weights), stat.st_size, stat.st_mtime_ns, self.size, str(resolve_device(self.device))
        )

        # Letterbox: resize into the square, keep the aspect ratio, pad right and bottom.
        height, width = image.shape[:2]
        side = int(self.input_size)
        ratio = min(side / height, side / width)
        resized_width, resized_height = max(1, int(width * ratio)), max(1, int(height * ratio))
        canvas = np.full((side, side, 3), YOLOX_PAD_VALUE, dtype=np.uint8)
        canvas[:resized_height, :resized_width] = cv2.resize(
            image, (resized_width, resized_height), interpolation=cv2.INTER_LINEAR
        )
        bgr = np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1), dtype=np.float32)

        device = next(network.parameters()).device
        with lock, torch.inference_mode():
            rows = network(torch.from_numpy(bgr).unsqueeze(0).to(device), heads="face")[0].float().cpu().numpy()

        rows = rows[rows[:, 4] >= float(self.score_threshold)]
        centre, size = rows[:, :2].astype(np.float64), rows[:, 2:4].astype(np.float64)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) / ratio
        scores = rows[:, 4].astype(np.float64)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[valid], scores[valid]
        keep = nms(boxes, scores, iou_threshold=float(self.nms_iou))
        return Detections.from_arrays(boxes[keep], scores[keep], self.name).sorted_by_score()
