"""The training-side fidelity options: scheduler stepped per epoch (public code) or per batch; weight decay."""

import math

import pytest
import torch
from tiny_models import l1_step, mae_metric, make_config, make_loader, make_model

from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.fit import build_optimizer, fit


class RecordingAdamW(torch.optim.AdamW):
    """AdamW that records the learning rate of every optimiser step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rates: list[float] = []

    def step(self, closure=None):
        self.rates.append(self.param_groups[0]["lr"])
        return super().step(closure)


def recording_optimizer(model, config):
    return RecordingAdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
                          weight_decay=config.weight_decay)


def run_with(schedule_step: str, epochs: int = 10) -> tuple[RecordingAdamW, list[float]]:
    created = []

    def factory(model, config):
        created.append(recording_optimizer(model, config))
        return created[0]

    config = make_config(epochs=epochs, schedule_step=schedule_step, warmup_fraction=0.1)
    result = fit(make_model(), make_loader(), make_loader(data_seed=1), l1_step, mae_metric, config,
                 optimizer_factory=factory)
    return created[0], [row["learning_rate"] for row in result.history]


def test_per_epoch_stepping_runs_the_first_epoch_at_learning_rate_zero():
    optimizer, history = run_with("epoch")  # 10 epochs of 4 batches; round(0.1 * 10) = 1 warm-up epoch
    assert TrainConfig(epochs=1, batch_size=1, learning_rate=1.0).schedule_step == "epoch"  # the default
    assert optimizer.rates[:4] == [0.0] * 4
    cosine = [1e-2 * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / 9)) for epoch in range(1, 10)]
    assert history == pytest.approx([0.0, *cosine], rel=1e-12, abs=1e-15)
    for epoch in range(10):  # one learning rate within each epoch
        assert optimizer.rates[4 * epoch:4 * epoch + 4] == pytest.approx([history[epoch]] * 4, rel=1e-12, abs=1e-15)


def test_per_batch_stepping_changes_the_rate_within_an_epoch():
    optimizer, history = run_with("batch")  # 40 steps, 4 warm-up steps
    assert optimizer.rates[:5] == pytest.approx([0.0, 2.5e-3, 5e-3, 7.5e-3, 1e-2], rel=1e-12)
    assert history[0] == 0.0 and history[1] == pytest.approx(1e-2, rel=1e-12)
    assert len(set(optimizer.rates[4:8])) == 4


@pytest.mark.parametrize("weight_decay", [1e-5, 1e-3])
def test_weight_decay_reaches_the_optimizer(weight_decay):
    optimizer = build_optimizer(make_model(), make_config(weight_decay=weight_decay))
    assert [group["weight_decay"] for group in optimizer.param_groups] == [weight_decay]


def test_schedule_step_is_validated():
    with pytest.raises(ValueError, match=r"TrainConfig.schedule_step='step' is invalid: expected one of \('epoch', "
                                         r"'batch'\)"):
        TrainConfig(epochs=1, batch_size=1, learning_rate=1.0, schedule_step="step")
