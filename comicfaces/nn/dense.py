"""Fully connected networks on feature vectors."""

from __future__ import annotations

import torch
from torch import nn


class DenseAutoencoder(nn.Module):
    """Encoder of ReLU layers and a sigmoid code, with a mirrored linear-output decoder.

    Parameters
    ----------
    n_features : int
        Input and output size.
    hidden : sequence of int
        Encoder hidden widths, input side first; the decoder uses them reversed.
    n_components : int
        Code size. The sigmoid keeps codes in (0, 1), which the KL sparsity
        penalty needs.
    """

    def __init__(self, n_features: int, hidden, n_components: int):
        super().__init__()
        widths = [n_features, *hidden]
        encoder: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            encoder += [nn.Linear(width_in, width_out), nn.ReLU()]
        encoder += [nn.Linear(widths[-1], n_components), nn.Sigmoid()]
        self.encoder = nn.Sequential(*encoder)

        decoder_widths = [n_components, *reversed(list(hidden))]
        decoder: list[nn.Module] = []
        for width_in, width_out in zip(decoder_widths[:-1], decoder_widths[1:]):
            decoder += [nn.Linear(width_in, width_out), nn.ReLU()]
        decoder.append(nn.Linear(decoder_widths[-1], n_features))
        self.decoder = nn.Sequential(*decoder)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(code, reconstruction)``."""
        code = self.encoder(x)
        return code, self.decoder(code)
