"""Checks shared by the feature, reduction and clustering estimators.

Two kinds of check live here: :func:`check_images` for the image input of feature
extractors, and small parameter checks that the frozen ``*Config`` dataclasses call
from their ``validate()`` methods. Every error names the offending value.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np


def check_images(X) -> list[np.ndarray]:
    """Validate a batch of face crops and return it as a list of arrays.

    Parameters
    ----------
    X : sequence of ndarray or ndarray
        A list (or tuple) of RGB ``uint8`` arrays of shape ``(height, width, 3)``.
        The crops may differ in size. A 4-D ``uint8`` array of shape
        ``(n, height, width, 3)`` is accepted as a batch of equal-sized crops.

    Returns
    -------
    list of ndarray
        The crops, not copied.

    Raises
    ------
    TypeError
        If ``X`` is not a sequence of arrays, or an element is not an ndarray.
    ValueError
        If ``X`` is empty, or an image has the wrong shape or dtype. The message
        names the index of the first bad image.
    """
    if isinstance(X, np.ndarray):
        if X.ndim == 3:
            raise TypeError(
                f"X is a single array of shape {X.shape}; pass a list of RGB images, "
                "for example [image] for one crop"
            )
        if X.ndim != 4:
            raise TypeError(
                f"X must be a list of RGB uint8 images of shape (height, width, 3); "
                f"got an array of shape {X.shape}"
            )
        images = list(X)
    elif isinstance(X, Sequence) and not isinstance(X, (str, bytes)):
        images = list(X)
    else:
        raise TypeError(
            "X must be a list of RGB uint8 images of shape (height, width, 3); "
            f"got {type(X).__name__}"
        )

    if not images:
        raise ValueError("X contains no images; pass at least one face crop")

    for index, image in enumerate(images):
        check_image(image, index)
    return images


def check_image(image, index: int) -> None:
    """Raise if ``image`` is not an RGB ``uint8`` array; the message names ``index``."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image {index}: expected a numpy array, got {type(image).__name__}")

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image {index}: expected an RGB array of shape (height, width, 3), got shape "
            f"{image.shape}; convert grayscale or RGBA crops to RGB first"
        )

    if image.dtype != np.uint8:
        raise ValueError(
            f"image {index}: expected dtype uint8, got {image.dtype}; "
            "scale to 0-255 and convert with image.astype(np.uint8)"
        )

    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image {index}: empty crop of shape {image.shape}")


def check_int(field: str, value, minimum: int, maximum: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer in ``[minimum, maximum]``."""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{field} must be an integer {allowed}, got {value!r}")


def check_float(
    field: str,
    value,
    minimum: float,
    maximum: float | None = None,
    *,
    include_minimum: bool = True,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number in the range."""
    low = "[" if include_minimum else "("
    allowed = f"in {low}{minimum}, {'inf)' if maximum is None else f'{maximum}]'}"
    is_real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not is_real or not np.isfinite(value):
        raise ValueError(f"{field} must be a finite number {allowed}, got {value!r}")

    below = value < minimum if include_minimum else value <= minimum
    if below or (maximum is not None and value > maximum):
        raise ValueError(f"{field} must be a number {allowed}, got {value!r}")


def check_choice(field: str, value, choices: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def check_bool(field: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field} must be True or False, got {value!r}")


def check_random_state(field: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is None, a non-negative int or a RandomState."""
    if value is None or isinstance(value, np.random.RandomState):
        return
    check_int(field, value, 0, 2**32 - 1)
