"""Turning face crops of any size into normalised square tensors."""

from __future__ import annotations

import cv2
import numpy as np
import torch

#: Per-channel RGB mean and standard deviation of ImageNet, for inputs in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Ways to make a crop square: keep the aspect ratio and pad, or stretch.
RESIZE_MODES = ("letterbox", "stretch")

# Letterbox padding colour: the ImageNet mean, which normalises to zero.
_PAD_COLOR = tuple(int(round(255 * value)) for value in IMAGENET_MEAN)


def square_crop(image: np.ndarray, size: int, mode: str = "letterbox") -> np.ndarray:
    """Resize one RGB ``uint8`` crop to ``size`` x ``size``.

    Parameters
    ----------
    image : ndarray of shape (height, width, 3), uint8
        The crop.
    size : int
        Side of the output in pixels.
    mode : {"letterbox", "stretch"}
        ``"letterbox"`` scales the longer side to ``size`` and centres the crop on
        a square of the ImageNet mean colour. ``"stretch"`` resizes each side to
        ``size`` and distorts the aspect ratio.

    Returns
    -------
    ndarray of shape (size, size, 3), uint8
    """
    height, width = image.shape[:2]
    if mode == "stretch":
        new_height = new_width = size
    else:
        scale = size / max(height, width)
        new_height = max(1, min(size, round(height * scale)))
        new_width = max(1, min(size, round(width * scale)))

    # Area averaging when shrinking avoids aliasing; bilinear when enlarging.
    shrinking = new_height < height or new_width < width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(image), (new_width, new_height), interpolation=interpolation)
    if mode == "stretch":
        return resized

    square = np.empty((size, size, 3), dtype=np.uint8)
    square[:] = _PAD_COLOR
    top = (size - new_height) // 2
    left = (size - new_width) // 2
    square[top : top + new_height, left : left + new_width] = resized
    return square


def to_uint8_batch(images: list[np.ndarray], size: int, mode: str = "letterbox") -> torch.Tensor:
    """Stack crops into a ``(n, 3, size, size)`` uint8 tensor with :func:`square_crop`."""
    batch = np.stack([square_crop(image, size, mode) for image in images])
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """Scale a float batch in [0, 1] with the ImageNet mean and standard deviation."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    return (batch - mean) / std


def to_network_input(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a uint8 batch to ``device`` as float in [0, 1], ImageNet-normalised."""
    return normalize(batch.to(device).float().div_(255.0))
