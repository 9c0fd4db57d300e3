"""A CenterNet-style single-class face detector on the EfficientNet-Lite0 backbone.

The network follows "Objects as Points" (Zhou, Wang and Krähenbühl, 2019): it
predicts, on a grid of cells ``output_stride`` input pixels wide, a heatmap
of face centres, the box size and the sub-cell offset of the centre. Three
changes from that paper, all taken from later anchor-free detectors:

- The heatmap target is an elliptical Gaussian whose standard deviations are
  ``0.54 / 6`` of the box width and height in cells (TTFNet, Liu et al., 2019),
  so tall and wide faces get matching peaks.
- The size branch predicts ``log(width / stride)`` and ``log(height / stride)``
  with an L1 loss, as FCOS-like detectors do, so faces of 10 and 200 pixels
  weigh the same in the loss.
- Ignored truth boxes zero the heatmap loss over their cells: a detection
  there is neither rewarded nor punished.

The backbone is the ImageNet EfficientNet-Lite0 of
:func:`comicfaces.nn.backbones.build_efficientnet_lite0`. A small feature
pyramid (1x1 lateral convolutions, nearest-neighbour upsampling, sum, then a
3x3 convolution) brings the stride-32 features down to the output stride.
One hidden 3x3 convolution feeds the three 1x1 output layers.

This module imports torch at the top; import it only where a network is needed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "CenterNet",
    "CenterNetConfig",
    "CenterNetTargets",
    "centernet_loss",
    "decode_centernet",
    "encode_targets",
]

#: Output strides the feature pyramid can produce from EfficientNet-Lite0.
OUTPUT_STRIDES = (4, 8)

#: Ratio of the Gaussian's standard deviation to the box side times 6 (TTFNet's alpha).
GAUSSIAN_ALPHA = 0.54

#: Prior probability of a face centre in a cell; sets the initial heatmap bias (as in CenterNet).
HEATMAP_PRIOR = 0.1

#: Weights of the loss terms: focal heatmap loss, log-size L1 and offset L1.
SIZE_WEIGHT = 1.0
OFFSET_WEIGHT = 1.0

#: Number of EfficientNet-Lite0 backbone blocks (its stem not counted).
N_BACKBONE_BLOCKS = 16


@dataclass(frozen=True)
class CenterNetConfig:
    """Architecture of :class:`CenterNet`; stored as JSON next to the weights.

    Attributes
    ----------
    output_stride : int
        Input pixels per heatmap cell, 4 or 8. Stride 4 separates faces of
        about 10 px on the grid. Stride 8 made a training step on 320x320
        crops about 2.4 times faster on a 2-core CPU.
    neck_channels : int
        Channels of every pyramid level.
    head_channels : int
        Channels of the hidden 3x3 convolution shared by the heatmap, size and
        offset outputs.
    frozen_blocks : int
        The stem and the first ``frozen_blocks`` of the 16 backbone blocks keep
        their ImageNet weights and batch-norm statistics during training. 3
        freezes everything up to stride 4, 5 up to stride 8, 11 up to stride 16.
        Frozen layers run without autograd, which makes training cheaper.
    """

    output_stride: int = 8
    neck_channels: int = 64
    head_channels: int = 64
    frozen_blocks: int = 5

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        if self.output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"CenterNetConfig.output_stride must be one of {OUTPUT_STRIDES}, got {self.output_stride!r}")
        for name in ("neck_channels", "head_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 512:
                raise ValueError(f"CenterNetConfig.{name} must be an integer in [8, 512], got {value!r}")
        value = self.frozen_blocks
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= N_BACKBONE_BLOCKS:
            raise ValueError(
                f"CenterNetConfig.frozen_blocks must be an integer in [0, {N_BACKBONE_BLOCKS}], got {value!r}"
            )

    def to_dict(self) -> dict:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CenterNet(nn.Module):
    """EfficientNet-Lite0, a top-down feature pyramid and three CenterNet heads.

    Parameters
    ----------
    backbone : efficientnet_lite_pytorch.EfficientNet
        Network from :func:`comicfaces.nn.backbones.build_efficientnet_lite0`;
        its classifier and last 1x1 convolution are not used.
    config : CenterNetConfig

    Notes
    -----
    ``forward`` takes an ImageNet-normalised batch whose height and width are
    multiples of 32 and returns ``(heatmap_logits, log_size, offset)`` of shapes
    ``(n, 1, h, w)``, ``(n, 2, h, w)`` and ``(n, 2, h, w)`` with ``h`` and ``w``
    the input sides divided by ``output_stride``. Sizes and offsets are in
    cells, x before y.
    """

    def __init__(self, backbone: nn.Module, config: CenterNetConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.backbone = backbone

        # A block ends a pyramid level when the next block halves the resolution.
        blocks = list(backbone._blocks)
        strides = [_block_stride(block) for block in blocks]
        self.level_ends: list[int] = []
        level_channels: list[int] = []
        level_strides: list[int] = []
        stride = 2
        for index, block in enumerate(blocks):
            stride *= strides[index]
            is_last = index == len(blocks) - 1
            if is_last or strides[index + 1] > 1:
                if stride >= config.output_stride:
                    self.level_ends.append(index)
                    level_channels.append(block._bn2.num_features)
                    level_strides.append(stride)
        self.level_strides = tuple(level_strides)

        channels = config.neck_channels
        self.laterals = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in level_channels)
        # One smoothing convolution after each upsample-and-add step.
        self.smooth = nn.ModuleList(_conv_bn_relu(channels, channels, 3) for _ in level_channels[:-1])

        # One hidden 3x3 convolution shared by the three outputs. CenterNet gives
        # each output its own, which triples the cost of the largest layer.
        self.head = nn.Sequential(
            nn.Conv2d(channels, config.head_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.heatmap = nn.Conv2d(config.head_channels, 1, 1)
        self.size = nn.Conv2d(config.head_channels, 2, 1)
        self.offset = nn.Conv2d(config.head_channels, 2, 1)
        nn.init.constant_(self.heatmap.bias, -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR))

        self._freeze()

    def _frozen_modules(self) -> list[nn.Module]:
        modules: list[nn.Module] = [self.backbone._conv_stem, self.backbone._bn0]
        modules += list(self.backbone._blocks[: self.config.frozen_blocks])
        return modules

    def _freeze(self) -> None:
        for module in self._frozen_modules():
            for parameter in module.parameters():
                parameter.requires_grad_(False)
        # The unused classifier and head convolution get no gradient either.
        for module in (self.backbone._conv_head, self.backbone._bn1, self.backbone._fc):
            for parameter in module.parameters():
                parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> CenterNet:
        """Set training mode, but keep the frozen layers' batch norms in eval mode."""
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the backbone feature maps at the pyramid levels, finest first."""
        backbone = self.backbone
        frozen = self.config.frozen_blocks
        outputs: list[torch.Tensor] = []

        # The frozen layers (the stem always) need no autograd graph, which saves memory and time.
        with torch.no_grad():
            x = backbone._swish(backbone._bn0(backbone._conv_stem(x)))
        for index, block in enumerate(backbone._blocks):
            if index < frozen:
                with torch.no_grad():
                    x = block(x)
            else:
                x = block(x, drop_connect_rate=None)
            if index in self.level_ends:
                outputs.append(x)
        return outputs

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        levels = self.features(x)
        top = self.laterals[-1](levels[-1])
        for index in range(len(levels) - 2, -1, -1):
            lateral = self.laterals[index](levels[index])
            top = F.interpolate(top, size=lateral.shape[-2:], mode="nearest") + lateral
            top = self.smooth[index](top)
        hidden = self.head(top)
        return self.heatmap(hidden), self.size(hidden), self.offset(hidden)


def _block_stride(block: nn.Module) -> int:
    stride = block._block_args.stride
    if isinstance(stride, (list, tuple)):
        stride = stride[0]
    return int(stride)


@dataclass
class CenterNetTargets:
    """Training targets of one batch, as tensors.

    Attributes
    ----------
    heatmap : Tensor of shape (n, 1, h, w)
        Gaussian peaks of value 1 at face centres.
    heatmap_mask : Tensor of shape (n, 1, h, w)
        0 on cells covered by ignored boxes, where the heatmap loss is not computed.
    indices : Tensor of shape (n, k), int64
        Flat cell index ``y * w + x`` of each face centre; padded with 0.
    box_mask : Tensor of shape (n, k)
        1 for real faces, 0 for padding.
    log_size : Tensor of shape (n, k, 2)
        ``log(width / stride), log(height / stride)``.
    offset : Tensor of shape (n, k, 2)
        Centre minus its cell's corner, in cells, in ``[0, 1)``.
    """

    heatmap: torch.Tensor
    heatmap_mask: torch.Tensor
    indices: torch.Tensor
    box_mask: torch.Tensor
    log_size: torch.Tensor
    offset: torch.Tensor

    def to(self, device: torch.device) -> CenterNetTargets:
        """Return the targets on ``device``."""
        return CenterNetTargets(*(getattr(self, name).to(device) for name in self.__dataclass_fields__))


def _draw_gaussian(heatmap: np.ndarray, cx: int, cy: int, sigma_x: float, sigma_y: float) -> None:
    height, width = heatmap.shape
    radius_x = max(1, int(3 * sigma_x))
    radius_y = max(1, int(3 * sigma_y))
    x0, x1 = max(0, cx - radius_x), min(width, cx + radius_x + 1)
    y0, y1 = max(0, cy - radius_y), min(height, cy + radius_y + 1)
    xs = np.arange(x0, x1) - cx
    ys = np.arange(y0, y1) - cy
    gaussian = np.exp(-(xs[None, :] ** 2) / (2 * sigma_x**2) - (ys[:, None] ** 2) / (2 * sigma_y**2))
    np.maximum(heatmap[y0:y1, x0:x1], gaussian, out=heatmap[y0:y1, x0:x1])


def encode_targets(
    boxes_per_image: list[np.ndarray],
    ignore_per_image: list[np.ndarray],
    input_size: tuple[int, int],
    output_stride: int,
    max_objects: int = 128,
) -> CenterNetTargets:
    """Build the heatmap, size and offset targets of a batch.

    Parameters
    ----------
    boxes_per_image : list of ndarray of shape (m, 4)
        Boxes ``(x0, y0, x1, y1)`` in input pixels, one array per image.
    ignore_per_image : list of ndarray of shape (m,)
        True for boxes masked out of the loss.
    input_size : (height, width)
        Network input size in pixels, a multiple of ``output_stride``.
    output_stride : int
    max_objects : int
        Regular boxes per image beyond this many are dropped, with a warning.

    Returns
    -------
    CenterNetTargets
    """
    height, width = input_size[0] // output_stride, input_size[1] // output_stride
    n = len(boxes_per_image)
    heatmap = np.zeros((n, 1, height, width), dtype=np.float32)
    mask = np.ones((n, 1, height, width), dtype=np.float32)
    indices = np.zeros((n, max_objects), dtype=np.int64)
    box_mask = np.zeros((n, max_objects), dtype=np.float32)
    log_size = np.zeros((n, max_objects, 2), dtype=np.float32)
    offset = np.zeros((n, max_objects, 2), dtype=np.float32)

    for image_index, (boxes, ignore) in enumerate(zip(boxes_per_image, ignore_per_image)):
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / output_stride
        ignore = np.asarray(ignore, dtype=bool).reshape(-1)

        for x0, y0, x1, y1 in boxes[ignore]:
            cx0, cy0 = max(0, int(math.floor(x0))), max(0, int(math.floor(y0)))
            cx1, cy1 = min(width, int(math.ceil(x1))), min(height, int(math.ceil(y1)))
            mask[image_index, 0, cy0:cy1, cx0:cx1] = 0.0

        regular = boxes[~ignore]
        if len(regular) > max_objects:
            logger.warning("%d faces in one training image, only the first %d are used", len(regular), max_objects)
            regular = regular[:max_objects]
        for slot, (x0, y0, x1, y1) in enumerate(regular):
            box_width, box_height = x1 - x0, y1 - y0
            if box_width <= 0 or box_height <= 0:
                continue
            centre_x = min(max((x0 + x1) / 2, 0.0), width - 1e-3)
            centre_y = min(max((y0 + y1) / 2, 0.0), height - 1e-3)
            cell_x, cell_y = int(centre_x), int(centre_y)
            sigma_x = max(GAUSSIAN_ALPHA * box_width / 6, 0.25)
            sigma_y = max(GAUSSIAN_ALPHA * box_height / 6, 0.25)
            _draw_gaussian(heatmap[image_index, 0], cell_x, cell_y, sigma_x, sigma_y)
            heatmap[image_index, 0, cell_y, cell_x] = 1.0
            # A face centre inside an ignored box is still a positive.
            mask[image_index, 0, cell_y, cell_x] = 1.0
            indices[image_index, slot] = cell_y * width + cell_x
            box_mask[image_index, slot] = 1.0
            log_size[image_index, slot] = (math.log(box_width), math.log(box_height))
            offset[image_index, slot] = (centre_x - cell_x, centre_y - cell_y)

    return CenterNetTargets(*(torch.from_numpy(a) for a in (heatmap, mask, indices, box_mask, log_size, offset)))


def _gather(feature: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    # (n, c, h, w) and (n, k) -> (n, k, c)
    n, channels = feature.shape[:2]
    flat = feature.view(n, channels, -1).permute(0, 2, 1)
    return flat.gather(1, indices.unsqueeze(-1).expand(-1, -1, channels))


def centernet_loss(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], targets: CenterNetTargets
) -> tuple[torch.Tensor, dict[str, float]]:
    """Compute the training loss of a batch.

    The heatmap term is CenterNet's penalty-reduced focal loss (alpha 2, beta
    4), summed over unmasked cells and divided by the number of faces (at
    least 1). Size and offset are L1 losses at the face centres, averaged over
    faces.

    Returns
    -------
    loss : Tensor
        Scalar total loss.
    parts : dict of str to float
        ``heatmap``, ``size`` and ``offset`` terms, for logging.
    """
    heatmap_logits, log_size, offset = outputs
    probability = torch.sigmoid(heatmap_logits.float()).clamp(1e-4, 1 - 1e-4)
    target = targets.heatmap
    positive = target.eq(1.0).float()
    negative_weight = torch.pow(1 - target, 4) * targets.heatmap_mask * (1 - positive)

    positive_loss = torch.log(probability) * torch.pow(1 - probability, 2) * positive
    negative_loss = torch.log(1 - probability) * torch.pow(probability, 2) * negative_weight
    n_faces = targets.box_mask.sum()
    heatmap_loss = -(positive_loss.sum() + negative_loss.sum()) / n_faces.clamp(min=1.0)

    box_mask = targets.box_mask.unsqueeze(-1)
    denominator = (box_mask.sum() * 2).clamp(min=1.0)
    size_loss = (torch.abs(_gather(log_size.float(), targets.indices) - targets.log_size) * box_mask).sum() / denominator
    offset_loss = (torch.abs(_gather(offset.float(), targets.indices) - targets.offset) * box_mask).sum() / denominator

    loss = heatmap_loss + SIZE_WEIGHT * size_loss + OFFSET_WEIGHT * offset_loss
    parts = {"heatmap": float(heatmap_loss.detach()), "size": float(size_loss.detach()), "offset": float(offset_loss.detach())}
    return loss, parts


def decode_centernet(
    outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    output_stride: int,
    score_threshold: float,
    max_detections: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Turn network outputs into boxes in input pixels.

    A cell is a peak when its score equals the maximum of its 3x3
    neighbourhood (CenterNet's max-pool NMS). The ``max_detections`` highest
    peaks scoring at least ``score_threshold`` become boxes.

    Returns
    -------
    list of (boxes, scores)
        Per image: boxes of shape (k, 4) ``(x0, y0, x1, y1)`` and scores (k,).
    """
    heatmap_logits, log_size, offset = outputs
    scores = torch.sigmoid(heatmap_logits.float())
    peaks = F.max_pool2d(scores, 3, stride=1, padding=1)
    scores = scores * (peaks == scores).float()
    n, _, height, width = scores.shape
    k = min(max_detections, height * width)
    top_scores, top_indices = scores.view(n, -1).topk(k, dim=1)

    results = []
    for image in range(n):
        keep = top_scores[image] >= score_threshold
        index = top_indices[image][keep]
        image_scores = top_scores[image][keep]
        ys = torch.div(index, width, rounding_mode="floor").float()
        xs = (index % width).float()
        size = log_size[image].float().view(2, -1)[:, index].clamp(max=10.0).exp()
        shift = offset[image].float().view(2, -1)[:, index]
        centre_x = xs + shift[0]
        centre_y = ys + shift[1]
        boxes = torch.stack(
            [centre_x - size[0] / 2, centre_y - size[1] / 2, centre_x + size[0] / 2, centre_y + size[1] / 2], dim=1
        )
        results.append(((boxes * output_stride).cpu().numpy().astype(np.float64), image_scores.cpu().numpy().astype(np.float64)))
    return results
