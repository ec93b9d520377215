"""Losses and the sentiment ratio: eq. 6 (ratios), eq. 12 (correlation estimation), eq. 14 (task loss)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as distributed_functional
import torch.nn.functional as F

from kuda_pipeline.model.config import TASK_LOSSES


def _pooled(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dim() == 3:
        return x.mean(dim=1)  # (B, L, d) -> (B, d)
    if x.dim() == 2:
        return x
    raise ValueError(f"{name} must be (B, L, d) or (B, d), got shape {tuple(x.shape)}")


def correlation_estimation_loss(unimodal: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """eq. 12 for one modality: NCE = -mean_i[x_i . z_i - log sum_j exp(x_i . z_j)].

    x = unit-normalised mean over length of Ĥ_m, z = unit-normalised mean over length of X_N; either
    input may be given already pooled, (B, d). Returns a scalar.

    The sum over j runs over the whole batch: in data-parallel training (gradients enabled, several processes) each
    process holds a shard of the global batch and the z of every shard are gathered, with their gradients, so the
    loss is that of one process with the global batch.
    """
    x = F.normalize(_pooled(unimodal, "unimodal"), dim=-1)
    z = F.normalize(_pooled(fused, "fused"), dim=-1)
    candidates, offset = _global_batch(z)  # (B_global, d), where this shard's rows start
    similarities = x @ candidates.T  # (B, B_global): x_i . z_j
    rows = torch.arange(x.shape[0], device=x.device)
    return -(similarities[rows, offset + rows] - similarities.logsumexp(dim=-1)).mean()


def _global_batch(z: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(B, d) -> every data-parallel shard's rows, in rank order, and the offset of this rank's; ``z`` itself
    outside training under torch.distributed (shards must then have equal sizes, as DistributedSampler gives)."""
    if not (torch.is_grad_enabled() and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return z, 0
    return torch.cat(distributed_functional.all_gather(z), dim=0), dist.get_rank() * z.shape[0]


def sentiment_ratios(
    unimodal_predictions: Mapping[str, torch.Tensor], label: torch.Tensor, k: float
) -> dict[str, torch.Tensor]:
    """eq. 6: r_m = exp(-k (ŷ_m - y)^2) / sum_m' exp(-k (ŷ_m' - y)^2), each (B,), as a stable softmax."""
    names = list(unimodal_predictions)
    errors = torch.stack([unimodal_predictions[m] - label for m in names], dim=-1)  # (B, M)
    ratios = torch.softmax(-k * errors.square(), dim=-1)  # (B, M)
    return {m: ratios[:, i] for i, m in enumerate(names)}


def task_loss(prediction: torch.Tensor, label: torch.Tensor, kind: str) -> torch.Tensor:
    """eq. 14: "mae" (paper) = mean |ŷ - y|, "mse" (public code) = mean (ŷ - y)^2; both (B,) -> scalar."""
    if prediction.shape != label.shape:
        raise ValueError(f"prediction shape {tuple(prediction.shape)} differs from label shape {tuple(label.shape)}")
    if kind == "mae":
        return F.l1_loss(prediction, label)
    if kind == "mse":
        return F.mse_loss(prediction, label)
    raise ValueError(f"task loss kind must be one of {TASK_LOSSES}, got {kind!r}")
