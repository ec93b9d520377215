import math

import pytest
import torch

from kuda_pipeline.model.losses import correlation_estimation_loss, sentiment_ratios, task_loss


def test_nce_on_two_samples_equals_hand_computation():
    unimodal = torch.tensor([[3.0, 0.0], [0.0, 2.0]])  # unit-normalised: x0 = (1, 0), x1 = (0, 1)
    fused = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # z0 = (1, 0), z1 = (1, 1) / sqrt(2)
    s = 1 / math.sqrt(2)
    # x0.z0 = 1, x0.z1 = s, x1.z0 = 0, x1.z1 = s
    expected = -((1 - math.log(math.exp(1) + math.exp(s))) + (s - math.log(math.exp(0) + math.exp(s)))) / 2
    assert correlation_estimation_loss(unimodal, fused).item() == pytest.approx(expected, rel=1e-6)


def test_nce_pools_sequences_over_length():
    unimodal = torch.tensor([[[2.0, 0.0], [4.0, 0.0]], [[0.0, 1.0], [0.0, 3.0]]])  # (2, 2, 2), means (3, 0), (0, 2)
    fused = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[2.0, 0.0], [0.0, 2.0]]])  # means (1, 0), (1, 1)
    pooled = correlation_estimation_loss(torch.tensor([[3.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
    assert correlation_estimation_loss(unimodal, fused).item() == pytest.approx(pooled.item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"unimodal must be \(B, L, d\) or \(B, d\), got shape \(2,\)"):
        correlation_estimation_loss(torch.ones(2), fused)


def test_ratios_match_hand_computation_and_sum_to_one():
    predictions = {"t": torch.tensor([0.5, 0.0]), "v": torch.tensor([-0.5, 0.0]), "a": torch.tensor([0.0, 1.0])}
    label = torch.tensor([0.5, 0.0])
    ratios = sentiment_ratios(predictions, label, k=2.0)
    s_t, s_v, s_a = 1.0, math.exp(-2.0 * 1.0), math.exp(-2.0 * 0.25)  # sample 0: errors 0, -1, -0.5
    total = s_t + s_v + s_a
    assert ratios["t"][0].item() == pytest.approx(s_t / total, rel=1e-6)
    assert ratios["v"][0].item() == pytest.approx(s_v / total, rel=1e-6)
    assert ratios["a"][0].item() == pytest.approx(s_a / total, rel=1e-6)
    # sample 1: errors 0, 0, 1
    assert ratios["a"][1].item() == pytest.approx(math.exp(-2.0) / (2 + math.exp(-2.0)), rel=1e-6)
    torch.testing.assert_close(sum(ratios.values()), torch.ones(2))


def test_ratios_stay_finite_when_every_exponential_underflows():
    predictions = {"t": torch.tensor([3.0]), "v": torch.tensor([-3.0]), "a": torch.tensor([2.9])}
    ratios = sentiment_ratios(predictions, torch.tensor([-3.0]), k=50.0)  # exp(-50 * 36) underflows to 0
    assert ratios["v"].item() == pytest.approx(1.0)
    assert all(torch.isfinite(r).all() for r in ratios.values())


def test_task_loss_kinds():
    prediction, label = torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])
    assert task_loss(prediction, label, "mae").item() == pytest.approx(1.5)
    assert task_loss(prediction, label, "mse").item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match=r"must be one of \('mae', 'mse'\), got 'l1'"):
        task_loss(prediction, label, "l1")
    with pytest.raises(ValueError, match=r"prediction shape \(2, 1\) differs from label shape \(2,\)"):
        task_loss(prediction[:, None], label, "mae")
