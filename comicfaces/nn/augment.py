"""Random view augmentation for SimCLR, built with kornia.

The steps are those of SimCLR (Chen et al., 2020, "A Simple Framework for
Contrastive Learning of Visual Representations"): random resized crop,
horizontal flip, colour jitter, random grayscale and Gaussian blur. The settings
are those of the MoCo v2 augmentation (``aug_plus`` in facebookresearch/moco),
which are milder than SimCLR's in two ways that suit comic faces:

- The crop keeps at least 20 % of the image area, not kornia's default 8 %,
  because a face crop is already tight and a tiny patch of it rarely shows the
  character.
- The colour jitter strength defaults to 0.4 (brightness, contrast and saturation by up
  to 40 %, hue by up to 0.1 turn), applied with probability 0.8. Hair and skin
  colours identify comic characters, and a stronger jitter teaches the network
  to ignore them.
"""

from __future__ import annotations

import torch
from torch import nn

#: Smallest fraction of the image area that a random resized crop keeps.
MIN_CROP_AREA = 0.2


def blur_kernel_size(image_size: int) -> int:
    """Return the odd Gaussian-blur kernel side, about 10 % of ``image_size``, at least 3."""
    kernel = max(3, int(round(image_size * 0.1)))
    return kernel if kernel % 2 == 1 else kernel + 1


def simclr_augmentation(image_size: int, color_jitter: float = 0.4) -> nn.Module:
    """Build the augmentation that makes one random view of each image in a batch.

    Parameters
    ----------
    image_size : int
        Side of the square input and output images, in pixels.
    color_jitter : float
        Jitter strength ``s``: brightness, contrast and saturation factors are
        drawn from ``[1 - s, 1 + s]`` and the hue shift from ``[-s/4, s/4]``, with
        probability 0.8. Zero disables the jitter.

    Returns
    -------
    kornia.augmentation.AugmentationSequential
        Module mapping a float ``(n, 3, size, size)`` batch in [0, 1] to a new
        random view of the same shape. It draws from torch's global random
        generator, so ``torch.manual_seed`` makes it repeatable.
    """
    import kornia.augmentation as K

    # MoCo v2 blurs 224 px images with sigma in [0.1, 2.0] px; scale that to the image size.
    max_sigma = max(0.2, 2.0 * image_size / 224)
    steps = [
        K.RandomResizedCrop((image_size, image_size), scale=(MIN_CROP_AREA, 1.0)),
        K.RandomHorizontalFlip(),
    ]
    if color_jitter > 0:
        steps.append(
            K.ColorJitter(color_jitter, color_jitter, color_jitter, min(0.5, color_jitter / 4), p=0.8)
        )
    steps += [
        K.RandomGrayscale(p=0.2),
        K.RandomGaussianBlur(blur_kernel_size(image_size), (0.1, max_sigma), p=0.5),
    ]
    return K.AugmentationSequential(*steps)


def two_views(augment: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return two independent random views of a float batch in [0, 1], clamped to [0, 1]."""
    first = augment(batch).clamp_(0.0, 1.0)
    second = augment(batch).clamp_(0.0, 1.0)
    return first, second
