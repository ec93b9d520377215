"""Exact padding trimming: run a modality's encoder and adapter only up to the batch's last valid step.

In the masked-padding mode no output at a valid step depends on a padded step (padded keys are never
attended to, everything else is per step, the decoder averages over valid steps only, and padded steps
are zeroed before the length projection of eq. 7). The steps after the last step valid in any row of
the batch can therefore be cut before the encoder and put back as zeros before the length projection
(`pad_to_length`), with the same result up to float summation order, and less work on short batches.

The computation before the fusion is also independent across the rows of a batch (no batch statistics;
padded keys are masked), so a batch can go further: its rows sorted by valid length and cut into a few
contiguous sub-batches, each run trimmed to its own longest row (`bucket_plan`, `run_in_buckets`), the
outputs put back in the batch's order. A batch then costs about what its rows cost, not B times its
longest row. The rows sharing a batch do not change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

Inputs = torch.Tensor | tuple[torch.Tensor | None, ...]


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


def valid_lengths(valid: torch.Tensor) -> torch.Tensor:
    """(B, L) mask -> (B,) 1 + each row's last valid step (0 for a row without one)."""
    steps = torch.arange(1, valid.shape[1] + 1, device=valid.device)  # (L,) 1-based step numbers
    return (valid * steps).amax(dim=1)


class Bucket(NamedTuple):
    """Rows `order[start:stop]` of a batch, run trimmed to `length` steps."""

    start: int
    stop: int
    length: int


def bucket_plan(lengths: torch.Tensor, buckets: int) -> tuple[torch.Tensor, list[Bucket]]:
    """Rows sorted by length (longest first) and at most `buckets` contiguous sub-batches of that order that
    minimise the steps run, sum over sub-batches of rows x longest row (a row without valid steps counts 1).

    Exact dynamic programme over the B + 1 cut points, vectorised: one (B + 1, B + 1) min per sub-batch.
    """
    order = torch.argsort(lengths, descending=True, stable=True)
    longest = lengths.index_select(0, order).clamp(min=1).cpu()  # (B,) descending; a bucket's first row is its longest
    rows = lengths.shape[0]
    cut = torch.arange(rows + 1)
    # cost[i, j]: rows i .. j-1 in one sub-batch (0 for an empty one, i == j; infinite for j < i)
    cost = (cut[None, :] - cut[:, None]).double() * torch.cat([longest, longest.new_ones(1)]).double()[:, None]
    cost = cost.masked_fill(cut[None, :] < cut[:, None], float("inf"))
    best = torch.full((rows + 1,), float("inf"), dtype=torch.float64)
    best[0] = 0.0  # best[j]: least steps for the first j rows in the sub-batches so far
    starts = []
    for _ in range(buckets):
        best, start = (best[:, None] + cost).min(dim=0)  # (B + 1,) each over the last sub-batch's first row
        starts.append(start)
    plan, stop = [], rows
    for start in reversed(starts):
        first = int(start[stop])
        if first < stop:
            plan.append(Bucket(first, stop, int(longest[first])))
        stop = first
    return order, plan[::-1]


def run_in_buckets(
    encode: Callable[[Inputs, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    inputs: Inputs,
    valid: torch.Tensor,
    length_dim: int,
    buckets: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`encode(inputs, valid) -> (B, L', d) per-step outputs, (B,) per-row outputs` run by sub-batches of rows of
    similar length (`bucket_plan`), each trimmed to its longest row; the outputs in the batch's row order, the
    per-step ones zero-padded to the batch's trimmed length L', and the (B, L') mask cut alike. `inputs`: one
    tensor or a tuple of tensors (or None, passed as is), each with rows first and steps along `length_dim`.

    Exact when no output of a row depends on another row or on its steps after its last valid one.
    """
    order, plan = bucket_plan(valid_lengths(valid), buckets)
    length = trimmed_length(valid)
    if len(plan) == 1:
        return (*encode(_rows(inputs, length_dim, length), valid[:, :length]), valid[:, :length])
    steps, per_row = [], []
    for bucket in plan:
        rows = order[bucket.start:bucket.stop]
        sub_steps, sub_row = encode(
            _rows(inputs, length_dim, bucket.length, rows),
            valid[:, :bucket.length].index_select(0, rows),
        )
        steps.append(pad_to_length(sub_steps, length))  # (rows, bucket length, d) -> (rows, L', d)
        per_row.append(sub_row)
    restore = torch.argsort(order)  # (B,) position of each row in the sorted order
    return torch.cat(steps).index_select(0, restore), torch.cat(per_row).index_select(0, restore), valid[:, :length]


def _rows(inputs: Inputs, length_dim: int, length: int, rows: torch.Tensor | None = None) -> Inputs:
    """`inputs` cut to `length` steps along `length_dim` (views), and to `rows` if given (copies); None stays None."""
    if inputs is None:
        return None
    if isinstance(inputs, tuple):
        return tuple(_rows(x, length_dim, length, rows) for x in inputs)
    cut = inputs.narrow(length_dim, 0, length)
    return cut if rows is None else cut.index_select(0, rows)
