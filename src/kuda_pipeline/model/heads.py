"""Regression heads: the MLP of the multimodal output (eq. 13) and the unimodal decoders (eq. 5)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kuda_pipeline.model.layers import masked_mean


class RegressionMLP(nn.Sequential):
    """input -> hidden sizes (each Linear + GELU) -> Linear to one score; (B, input) -> (B,)."""

    def __init__(self, input_size: int, hidden_sizes: Sequence[int]) -> None:
        sizes = (input_size, *hidden_sizes)
        layers: list[nn.Module] = []
        for size_in, size_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(size_in, size_out), nn.GELU()]
        super().__init__(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(-1)  # (B, 1) -> (B,)


class UnimodalDecoder(nn.Module):
    """eq. 5: mean over length of H_m (B, L, 2d) -> MLP 2d -> d/2 -> d/4 -> d/8 -> 1 -> (B,).

    `input_size` is the width of H_m: 2d by default ([H_m^g; H_m^k]), d without adapters (H_m = H_m^g).
    `masked`: the mean runs over the valid steps only; otherwise over every step (the public code).
    """

    def __init__(self, hidden_size: int, input_size: int | None = None, masked: bool = True) -> None:
        super().__init__()
        width = 2 * hidden_size if input_size is None else input_size
        self.masked = masked
        self.mlp = RegressionMLP(width, (hidden_size // 2, hidden_size // 4, hidden_size // 8))

    def forward(self, representation: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.mlp(masked_mean(representation, valid if self.masked else None))

