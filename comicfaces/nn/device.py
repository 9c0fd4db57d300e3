"""Validating and resolving the ``device`` parameter of the torch estimators.

This module does not import torch at import time, so parameter validation stays
cheap for the CLI and the dashboard.
"""

from __future__ import annotations

import re

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(field: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is "auto", "cpu", "mps", "cuda" or "cuda:N"."""
    if not isinstance(value, str) or not _DEVICE_PATTERN.match(value):
        raise ValueError(
            f"{field} must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N' (N a GPU index); got {value!r}"
        )


def resolve_device(device: str):
    """Map "auto" to CUDA when available, else the CPU; pass other names to torch.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If a CUDA or MPS device is requested but this torch build cannot use it.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} requested but this torch build has no usable CUDA GPU; "
            "use device='cpu' or 'auto'"
        )
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} requested but MPS is not available; use 'cpu' or 'auto'")
    return torch.device(device)
