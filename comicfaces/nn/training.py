"""Training and inference helpers shared by the torch estimators."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators inside the block and restore them afterwards.

    Deterministic algorithms are switched on inside the block (``warn_only``, so an
    operation without a deterministic implementation warns instead of failing)
    and the previous setting is restored on exit. On CUDA, bit-identical results
    also need the environment variable ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` set
    before the process starts.
    """
    devices = [device] if device.type == "cuda" else []
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def nt_xent_loss(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """Compute the normalised temperature-scaled cross-entropy loss of SimCLR.

    Row ``i`` of ``first`` and row ``i`` of ``second`` are the two views of one image
    (a positive pair). The other ``2n - 2`` views in the batch are its negatives.

    Parameters
    ----------
    first, second : Tensor of shape (n, d)
        Projections of the two views; they are L2-normalised here.
    temperature : float
        Softmax temperature applied to cosine similarities.

    Returns
    -------
    Tensor
        Scalar mean loss over the ``2n`` views. It equals ``log(2n - 1)`` when
        every view is equally similar to all others.
    """
    n = first.shape[0]
    projections = F.normalize(torch.cat([first, second]), dim=1)
    logits = projections @ projections.T / temperature

    # A view is not its own negative.
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask, float("-inf"))

    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(logits.device)
    return F.cross_entropy(logits, targets)


def warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Return a schedule that ramps the learning rate up linearly, then decays it along a cosine.

    The factor rises from ``1 / (warmup_steps + 1)`` to 1 over ``warmup_steps``
    optimiser steps and then falls along a half cosine to 0 at ``total_steps``.
    Call ``step()`` after every optimiser step.
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def embed_batches(
    model: nn.Module,
    images: Sequence,
    to_input: Callable[[Sequence], torch.Tensor],
    batch_size: int,
) -> torch.Tensor:
    """Run ``model`` over ``images`` in chunks under ``torch.inference_mode``.

    Parameters
    ----------
    model : torch.nn.Module
        Network in eval mode, already on its device.
    images : sequence
        All inputs, such as a list of crops. Only one chunk at a time is converted,
        so memory stays bounded by ``batch_size``.
    to_input : callable
        Function from a slice of ``images`` to the model input tensor on the
        model's device.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    Tensor
        Concatenated outputs as float32 on the CPU.
    """
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = to_input(images[start : start + batch_size])
            outputs.append(model(chunk).float().cpu())
    return torch.cat(outputs)
