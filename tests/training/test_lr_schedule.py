"""Linear warm-up then cosine decay, checked against hand-computed learning rates."""

import math

import pytest
import torch

from kuda_pipeline.training.schedule import build_warmup_cosine_schedule, warmup_steps_for


def learning_rates(total_steps: int, warmup_fraction: float, base_lr: float = 1e-3) -> list[float]:
    """The learning rate used by each of the `total_steps` optimiser steps, and the one after the last."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=base_lr)
    scheduler = build_warmup_cosine_schedule(optimizer, total_steps, warmup_fraction)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates + [optimizer.param_groups[0]["lr"]]


def test_warmup_then_cosine_values():
    rates = learning_rates(total_steps=20, warmup_fraction=0.1)  # 2 warm-up steps, then 18 cosine steps
    assert rates[0] == 0.0
    assert rates[1] == pytest.approx(5e-4, rel=1e-12)
    assert rates[2] == pytest.approx(1e-3, rel=1e-12)
    assert rates[5] == pytest.approx(1e-3 * 0.5 * (1 + math.sqrt(3) / 2), rel=1e-12)  # progress 3/18: cos(pi/6)
    assert rates[11] == pytest.approx(5e-4, rel=1e-12)  # progress 9/18: halfway
    assert rates[20] == pytest.approx(0.0, abs=1e-18)
    assert all(later <= earlier for earlier, later in zip(rates[2:], rates[3:]))


def test_no_warmup_starts_at_the_base_rate():
    rates = learning_rates(total_steps=4, warmup_fraction=0.0)
    assert rates == pytest.approx([1e-3, 1e-3 * 0.5 * (1 + math.cos(math.pi / 4)), 5e-4,
                                   1e-3 * 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.0], rel=1e-12, abs=1e-18)


def test_warmup_steps_round_to_nearest():
    assert [warmup_steps_for(total, 0.1) for total in (20, 16, 14, 4)] == [2, 2, 1, 0]
    assert warmup_steps_for(100, 0.29) == 29  # 0.29 * 100 = 28.999999999999996


def test_invalid_schedule_arguments_are_rejected():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="total_steps=0 is invalid"):
        build_warmup_cosine_schedule(optimizer, 0, 0.1)
    with pytest.raises(ValueError, match="warmup_fraction=1.5 is invalid"):
        build_warmup_cosine_schedule(optimizer, 10, 1.5)
