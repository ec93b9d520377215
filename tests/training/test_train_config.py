"""TrainConfig validation and construction from a parameters mapping."""

import dataclasses

import pytest

from kuda_pipeline.training.config import TrainConfig

REQUIRED = {"epochs": 3, "batch_size": 4, "learning_rate": 1e-4}


def test_defaults_and_from_dict_turn_yaml_lists_into_tuples():
    config = TrainConfig.from_dict(REQUIRED | {"betas": [0.8, 0.99], "device": "cuda:1", "precision": "bf16"})
    assert config.betas == (0.8, 0.99)
    assert (config.warmup_fraction, config.grad_clip, config.selection_metric, config.selection_mode) == (
        0.1, None, "MAE", "min")
    assert (config.device, config.precision, config.resume, config.num_threads) == ("cuda:1", "bf16", False, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 5


def test_from_dict_rejects_unknown_and_missing_fields():
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['lr'\]"):
        TrainConfig.from_dict(REQUIRED | {"lr": 0.1})
    with pytest.raises(ValueError, match=r"fields \['learning_rate'\] are required"):
        TrainConfig.from_dict({"epochs": 3, "batch_size": 4})


@pytest.mark.parametrize(("field", "value"), [
    ("epochs", 0), ("epochs", 2.0), ("epochs", True), ("batch_size", -1), ("learning_rate", 0.0),
    ("learning_rate", "1e-4"), ("learning_rate", float("nan")), ("weight_decay", -0.1), ("warmup_fraction", 1.0),
    ("betas", (0.9,)), ("betas", (0.9, 1.0)), ("grad_clip", 0), ("device", "gpu"), ("device", "cuda:x"),
    ("precision", "fp16"), ("seed", -1), ("seed", 2**32), ("selection_metric", ""), ("selection_mode", "lowest"),
    ("resume", "yes"), ("num_threads", 0),
])
def test_invalid_values_name_the_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"^TrainConfig\.{field}={value!r} is invalid".replace("(", r"\(")
                       .replace(")", r"\)").replace("+", r"\+")):
        TrainConfig(**(REQUIRED | {field: value}))
