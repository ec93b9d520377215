"""Learning-rate schedule: linear warm-up, then cosine decay to 0 (the authors' stage-2 schedule)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_steps_for(total_steps: int, warmup_fraction: float) -> int:
    """Number of warm-up steps: `warmup_fraction` of `total_steps`, rounded to the nearest integer."""
    return round(warmup_fraction * total_steps)


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based).

    step / warmup_steps during warm-up, then 0.5 * (1 + cos(pi * progress)) with progress going
    from 0 at the end of warm-up to 1 at `total_steps` (the form of Hugging Face's
    `get_cosine_schedule_with_warmup`).
    """
    if step < warmup_steps:
        return step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def build_warmup_cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int,
                                 warmup_fraction: float) -> LambdaLR:
    """A `LambdaLR` stepped once per optimiser step over `total_steps` steps."""
    if total_steps < 1:
        raise ValueError(f"total_steps={total_steps} is invalid: expected at least one optimiser step")
    if not 0 <= warmup_fraction < 1:
        raise ValueError(f"warmup_fraction={warmup_fraction} is invalid: expected a number in [0, 1)")
    warmup_steps = warmup_steps_for(total_steps, warmup_fraction)

    def factor(step: int) -> float:
        return warmup_cosine_factor(step, warmup_steps, total_steps)

    return LambdaLR(optimizer, factor)
