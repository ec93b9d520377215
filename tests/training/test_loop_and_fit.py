"""run_epoch, evaluate and fit on a tiny dropout regressor with shuffling loaders (no project model or data)."""

import math

import numpy as np
import pytest
import torch
from tiny_models import l1_step, mae_metric, make_config, make_loader, make_model
from torch import nn

from kuda_pipeline.training.checkpoint import load_state, save_state
from kuda_pipeline.training.config import training_identity
from kuda_pipeline.training.fit import CHECKPOINT_NAME, CheckpointMismatchError, build_optimizer, fit
from kuda_pipeline.training.loop import NonFiniteLossError, evaluate, run_epoch


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def assert_same_state(left: dict[str, torch.Tensor], right: dict[str, torch.Tensor]) -> None:
    assert left.keys() == right.keys()
    assert all(torch.equal(left[name], right[name]) for name in left)


def test_eval_epoch_makes_no_grads_keeps_weights_and_weights_loss_by_samples():
    model, loader = make_model(), make_loader(size=10)  # batches of 4, 4, 2
    before = snapshot(model)
    first = run_epoch(model, loader, l1_step, device="cpu")
    second = run_epoch(model, loader, l1_step, device="cpu")

    assert not model.training
    assert all(parameter.grad is None for parameter in model.parameters())
    assert_same_state(before, snapshot(model))
    dataset = loader.dataset
    with torch.no_grad():
        expected = model(dataset.features).squeeze(-1).numpy()  # (10, 1) -> (10,)
    assert first.predictions["m"].shape == (10,) and first.predictions["m"].dtype == np.float32
    np.testing.assert_allclose(first.predictions["m"], expected, rtol=1e-6)
    np.testing.assert_array_equal(first.targets["m"], dataset.labels.numpy())
    np.testing.assert_array_equal(first.predictions["m"], second.predictions["m"])  # dropout is off
    assert first.loss == pytest.approx(float(np.abs(expected - dataset.labels.numpy()).mean()), rel=1e-6)
    assert first.parts["double"] == pytest.approx(2 * first.loss, rel=1e-6)


def test_train_epoch_updates_weights_and_steps_scheduler_once_per_batch():
    model, loader = make_model(), make_loader(size=16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    before = snapshot(model)
    result = run_epoch(model, loader, l1_step, optimizer, scheduler, device="cpu", grad_clip=1.0)

    assert model.training
    assert scheduler.last_epoch == 4
    assert not torch.equal(before["0.weight"], model.state_dict()["0.weight"])
    assert result.predictions["m"].shape == (16,) and math.isfinite(result.loss)


def test_run_epoch_rejects_a_scheduler_without_optimizer():
    model = make_model()
    scheduler = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD(model.parameters(), lr=0.1), lambda step: 1.0)
    with pytest.raises(ValueError, match="need an optimizer"):
        run_epoch(model, make_loader(), l1_step, scheduler=scheduler, device="cpu")


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_loss_names_epoch_and_step_and_leaves_weights_unchanged(bad_value):
    model, loader = make_model(), make_loader(size=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    seen = []

    def step_fn(model, batch):
        seen.append(snapshot(model))
        output = l1_step(model, batch)
        if len(seen) == 3:
            output.loss = output.loss * bad_value
        return output

    with pytest.raises(NonFiniteLossError, match=r"non-finite loss (nan|inf) at epoch 3, step 2") as error:
        run_epoch(model, loader, step_fn, optimizer, device="cpu", epoch=3)
    assert (error.value.epoch, error.value.step) == (3, 2)
    assert not torch.equal(seen[0]["0.weight"], seen[2]["0.weight"])  # two good steps did train
    assert_same_state(seen[2], snapshot(model))  # the bad step changed nothing


def test_fit_reports_non_finite_loss_with_its_epoch():
    calls = []

    def step_fn(model, batch):
        output = l1_step(model, batch)
        if model.training:
            calls.append(None)
            if len(calls) == 6:  # epoch 2 (4 batches per epoch), second batch
                output.loss = output.loss * float("nan")
        return output

    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, step 1 \(epoch 2/4 train\)"):
        fit(make_model(), make_loader(shuffle=True), make_loader(data_seed=1), step_fn, mae_metric, make_config(),
            checkpoint_dir=None)


def test_same_seed_gives_identical_history_and_best_state():
    def run(seed: int):
        return fit(make_model(), make_loader(shuffle=True), make_loader(data_seed=1), l1_step, mae_metric,
                   make_config(seed=seed))

    first, second, other = run(7), run(7), run(8)
    assert first.history == second.history
    assert first.best_epoch == second.best_epoch
    assert_same_state(first.best_state_dict, second.best_state_dict)
    assert first.history != other.history  # the seed drives shuffling and dropout


def test_history_columns_and_learning_rates_follow_the_schedule():
    result = fit(make_model(), make_loader(shuffle=True), make_loader(data_seed=1), l1_step, mae_metric, make_config())

    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert set(result.history[0]) == {"epoch", "train_loss", "valid_loss", "learning_rate", "train_task",
                                      "train_double", "valid_MAE"}
    # 16 steps, round(0.1 * 16) = 2 warm-up steps; epochs start at steps 0, 4, 8, 12
    expected = [1e-2 * factor for factor in (0.0, 0.5 * (1 + math.cos(math.pi * 2 / 14)),
                                             0.5 * (1 + math.cos(math.pi * 6 / 14)),
                                             0.5 * (1 + math.cos(math.pi * 10 / 14)))]
    assert [row["learning_rate"] for row in result.history] == pytest.approx(expected, rel=1e-12)
    for row in result.history:  # L1 loss averaged by samples is the MAE
        assert row["valid_loss"] == pytest.approx(row["valid_MAE"], rel=1e-5)
        assert row["train_double"] == pytest.approx(2 * row["train_task"], rel=1e-6)
    assert result.last_epoch == 4


@pytest.mark.parametrize(("mode", "values", "expected_epoch"), [
    ("min", [0.5, 0.2, 0.2, 0.7], 2),  # tie: the earlier epoch stays
    ("max", [0.5, 0.2, 0.2, 0.7], 4),
    ("min", [float("nan"), 0.4, float("nan"), 0.3], 4),  # NaN never wins
])
def test_best_state_is_the_selected_epochs_weights(mode, values, expected_epoch):
    model = make_model()
    states = []

    def scripted_metric(result):
        states.append(snapshot(model))
        return {"MAE": values[len(states) - 1]}

    result = fit(model, make_loader(shuffle=True), make_loader(data_seed=1), l1_step, scripted_metric,
                 make_config(selection_mode=mode))

    assert result.best_epoch == expected_epoch
    assert_same_state(result.best_state_dict, states[expected_epoch - 1])
    assert all(tensor.device.type == "cpu" for tensor in result.best_state_dict.values())
    np.testing.assert_array_equal([row["valid_MAE"] for row in result.history], values)


def test_unknown_selection_metric_is_rejected():
    with pytest.raises(ValueError, match=r"selection_metric='Corr' is not among the validation metrics \['MAE'\]"):
        fit(make_model(), make_loader(), make_loader(data_seed=1), l1_step, mae_metric,
            make_config(selection_metric="Corr"))


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path):
    config = make_config(epochs=4)
    full = fit(make_model(0), make_loader(shuffle=True, generator_seed=11), make_loader(data_seed=1), l1_step,
               mae_metric, config, checkpoint_dir=tmp_path / "full")
    full_last = load_state(tmp_path / "full" / CHECKPOINT_NAME)["model"]

    training_calls = []

    def interrupted_step(model, batch):
        if model.training:
            training_calls.append(None)
            if len(training_calls) == 9:  # epoch 3's first batch
                raise KeyboardInterrupt
        return l1_step(model, batch)

    with pytest.raises(KeyboardInterrupt):
        fit(make_model(0), make_loader(shuffle=True, generator_seed=11), make_loader(data_seed=1), interrupted_step,
            mae_metric, config, checkpoint_dir=tmp_path / "run")
    assert load_state(tmp_path / "run" / CHECKPOINT_NAME)["epoch"] == 2

    # a fresh process: other initial weights, another loader generator seed, disturbed global RNGs
    torch.rand(5), np.random.rand(5)
    model = make_model(5)
    resumed = fit(model, make_loader(shuffle=True, generator_seed=99), make_loader(data_seed=1), l1_step, mae_metric,
                  make_config(epochs=4, resume=True), checkpoint_dir=tmp_path / "run")

    assert resumed.history == full.history
    assert resumed.best_epoch == full.best_epoch
    assert resumed.last_epoch == 4
    assert_same_state(resumed.best_state_dict, full.best_state_dict)
    assert_same_state(snapshot(model), full_last)


def interrupting_step(after_training_batches: int):
    """``l1_step`` that raises KeyboardInterrupt at training batch ``after_training_batches + 1``."""
    calls = []

    def step(model, batch):
        if model.training:
            calls.append(None)
            if len(calls) > after_training_batches:
                raise KeyboardInterrupt
        return l1_step(model, batch)

    return step


def interrupted_run(checkpoint_dir, config, checkpoint_identity=None, epochs_done: int = 1) -> None:
    with pytest.raises(KeyboardInterrupt):
        fit(make_model(), make_loader(shuffle=True, generator_seed=3), make_loader(data_seed=1),
            interrupting_step(4 * epochs_done), mae_metric, config, checkpoint_dir=checkpoint_dir,
            checkpoint_identity=checkpoint_identity)
    assert load_state(checkpoint_dir / CHECKPOINT_NAME)["finished"] is False


def test_a_finished_checkpoint_is_never_resumed(tmp_path):
    finished = fit(make_model(), make_loader(shuffle=True), make_loader(data_seed=1), l1_step, mae_metric,
                   make_config(), checkpoint_dir=tmp_path)
    assert load_state(tmp_path / CHECKPOINT_NAME)["finished"] is True

    calls = []

    def counting_step(model, batch):
        calls.append(model.training)
        return l1_step(model, batch)

    again = fit(make_model(), make_loader(shuffle=True), make_loader(data_seed=1), counting_step, mae_metric,
                make_config(resume=True), checkpoint_dir=tmp_path)
    assert calls.count(True) == 4 * 4  # every epoch trained again (4 epochs x 4 batches)
    assert again.history == finished.history  # same seed and inputs: the same run, not the old one returned
    assert_same_state(again.best_state_dict, finished.best_state_dict)


def test_resuming_with_other_settings_names_every_differing_field(tmp_path):
    interrupted_run(tmp_path, make_config(), checkpoint_identity={"data": "digest-a", "model": {"k": 2}})
    with pytest.raises(CheckpointMismatchError) as error:
        fit(make_model(), make_loader(shuffle=True, generator_seed=3), make_loader(data_seed=1), l1_step, mae_metric,
            make_config(resume=True, learning_rate=2e-2, seed=8, device="auto"), checkpoint_dir=tmp_path,
            checkpoint_identity={"data": "digest-b", "model": {"k": 2}})
    message = str(error.value)
    assert message.startswith(f"cannot resume from {tmp_path / CHECKPOINT_NAME}: it was trained with other")
    differences = [line.strip() for line in message.splitlines()[1:-1]]
    assert differences == ["data: checkpoint 'digest-a', now 'digest-b'",
                           "train.learning_rate: checkpoint 0.01, now 0.02",
                           "train.seed: checkpoint 7, now 8"]  # device and resume do not change what is trained
    assert "on_checkpoint_mismatch: restart" in message


def test_a_mismatch_restarts_from_scratch_when_asked(tmp_path):
    interrupted_run(tmp_path, make_config(learning_rate=2e-2))
    restarted = fit(make_model(), make_loader(shuffle=True, generator_seed=3), make_loader(data_seed=1), l1_step,
                    mae_metric, make_config(resume=True, on_checkpoint_mismatch="restart"), checkpoint_dir=tmp_path)
    fresh = fit(make_model(), make_loader(shuffle=True, generator_seed=3), make_loader(data_seed=1), l1_step,
                mae_metric, make_config(), checkpoint_dir=tmp_path / "fresh")
    assert restarted.history == fresh.history and restarted.last_epoch == 4
    assert load_state(tmp_path / CHECKPOINT_NAME)["identity"]["train"]["learning_rate"] == 1e-2


def test_a_checkpoint_without_a_record_of_its_settings_is_not_resumed(tmp_path):
    interrupted_run(tmp_path, make_config())
    state = load_state(tmp_path / CHECKPOINT_NAME)
    del state["identity"]
    save_state(tmp_path / CHECKPOINT_NAME, state)
    with pytest.raises(CheckpointMismatchError, match="the checkpoint records no settings"):
        fit(make_model(), make_loader(), make_loader(data_seed=1), l1_step, mae_metric, make_config(resume=True),
            checkpoint_dir=tmp_path)


def test_resume_with_a_different_step_count_is_rejected(tmp_path):
    interrupted_run(tmp_path, make_config(epochs=2))
    with pytest.raises(ValueError, match="written for 8 scheduler steps but this run has 10"):
        fit(make_model(), make_loader(size=20), make_loader(data_seed=1), l1_step, mae_metric,
            make_config(epochs=2, resume=True), checkpoint_dir=tmp_path)


def test_checkpoint_holds_only_tensors_and_plain_values(tmp_path):
    fit(make_model(), make_loader(shuffle=True, generator_seed=3), make_loader(data_seed=1), l1_step, mae_metric,
        make_config(epochs=2), checkpoint_dir=tmp_path)

    checkpoint = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert set(checkpoint) == {"epoch", "total_steps", "model", "optimizer", "scheduler", "history",
                               "best_state_dict", "best_epoch", "best_value", "rng", "identity", "finished"}
    assert checkpoint["identity"] == {"train": training_identity(make_config(epochs=2))}
    assert checkpoint["finished"] is True
    assert (checkpoint["epoch"], checkpoint["total_steps"], len(checkpoint["history"])) == (2, 8, 2)
    assert len(checkpoint["rng"]["generators"]) == 1  # the train loader's shuffling generator
    assert [path.name for path in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temporary file left


def test_frozen_parameters_are_not_optimised():
    model = make_model()
    model[0].requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    assert len(build_optimizer(model, make_config()).param_groups[0]["params"]) == 2
    fit(model, make_loader(shuffle=True), make_loader(data_seed=1), l1_step, mae_metric, make_config(epochs=1))
    assert torch.equal(model[0].weight, frozen)

    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no parameter with requires_grad=True"):
        build_optimizer(model, make_config())


def test_evaluate_returns_predictions_and_metrics():
    model = make_model()
    result, metrics = evaluate(model, make_loader(size=10, data_seed=2), l1_step, mae_metric, device="cpu")
    assert result.predictions["m"].shape == (10,)
    assert metrics["MAE"] == pytest.approx(result.loss, rel=1e-6)
    assert isinstance(metrics["MAE"], float)
