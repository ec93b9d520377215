"""Exact padding trimming: run a modality's encoder and adapter only up to the batch's last valid step.

In the masked-padding mode no output at a valid step depends on a padded step (padded keys are never
attended to, everything else is per step, the decoder averages over valid steps only, and padded steps
are zeroed before the length projection of eq. 7). The steps after the last step valid in any row of
the batch can therefore be cut before the encoder and put back as zeros before the length projection
(`pad_to_length`), with the same result up to float summation order, and less work on short batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def trimmed_length(valid: torch.Tensor) -> int:
    """1 + the last step valid in some row of the (B, L) mask; at least 1 (a batch without valid steps keeps one)."""
    steps = torch.arange(1, valid.shape[1] + 1, device=valid.device)  # (L,) 1-based step numbers
    return max(1, int((valid.any(dim=0) * steps).max()))


def trim_padding(inputs: torch.Tensor, valid: torch.Tensor, length_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`inputs` cut to `trimmed_length(valid)` along `length_dim`, and the (B, L) mask cut alike (views, no copies)."""
    length = trimmed_length(valid)
    if length == valid.shape[1]:
        return inputs, valid
    return inputs.narrow(length_dim, 0, length), valid[:, :length]


def pad_to_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """(B, L', d) -> (B, length, d) with zero steps appended (`length` >= L')."""
    return F.pad(x, (0, 0, 0, length - x.shape[1]))
