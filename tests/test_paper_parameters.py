"""The `paper` environment states the whole architecture and training of each dataset, valid and as in Table 2."""

import dataclasses
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from kuda_pipeline.experiments.report import load_paper_results
from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.parameters import validate_parameters
from kuda_pipeline.settings import CONFIG_LOADER_ARGS
from kuda_pipeline.training.config import TrainConfig

CONF = Path(__file__).resolve().parents[1] / "conf"
DATASETS = ("sims", "simsv2", "mosi", "mosei")
DATA_SHAPES = {"text_length", "vision_length", "vision_dim", "audio_length", "audio_dim"}
NESTED = ("vision_encoder", "audio_encoder", "text_adapter", "vision_adapter", "audio_adapter")


@pytest.fixture(scope="module")
def parameters() -> dict:
    return OmegaConfigLoader(str(CONF), base_env="base", default_run_env="paper")["parameters"]


def test_every_parameter_of_the_paper_datasets_is_valid(parameters):
    validate_parameters({dataset: parameters[dataset] for dataset in DATASETS})
    for dataset in DATASETS:
        sections = parameters[dataset]
        assert {"ingestion", "model", "knowledge_pretraining", "fusion_training"} <= set(sections)


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_architecture_states_every_field(dataset, parameters):
    architecture = parameters[dataset]["model"]["architecture"]
    fields = {f.name for f in dataclasses.fields(KudaConfig)} - DATA_SHAPES
    assert set(architecture) == fields
    for name in NESTED:
        nested_type = type(getattr(KudaConfig(**dict.fromkeys(DATA_SHAPES, 1)), name))
        assert set(architecture[name]) == {f.name for f in dataclasses.fields(nested_type)}, name
    for train in [parameters[dataset]["fusion_training"]["train"],
                  *(parameters[dataset]["knowledge_pretraining"][m]["train"] for m in "tva")]:
        assert set(train) == {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("dataset", DATASETS)
def test_table_2_values_match_the_paper(dataset, parameters):
    table = load_paper_results()["hyperparameters_table2"][dataset]
    architecture = parameters[dataset]["model"]["architecture"]
    train = parameters[dataset]["fusion_training"]["train"]
    assert list(architecture["text_injection_layers"]) == table["bert_injection_layers"]
    assert architecture["text_adapter"]["num_blocks"] == len(table["bert_injection_layers"])
    assert (architecture["fusion_blocks"], architecture["fusion_dim"]) == (table["dynamic_blocks"], table["dim"])
    assert (architecture["k"], architecture["alpha"]) == (table["k"], table["alpha"])
    assert (train["batch_size"], train["learning_rate"], train["epochs"]) == (
        table["batch_size"], table["lr"], table["epochs"])
    assert table["optimizer"] == "AdamW"  # the only optimiser the training loop builds


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_fidelity_defaults_resolve_to_the_paper_reading(dataset, parameters):
    architecture = parameters[dataset]["model"]["architecture"]
    config = KudaConfig.from_dict({**architecture, **dict.fromkeys(DATA_SHAPES, 1)})
    assert (config.reference, config.task_loss, config.test_ratio, config.adapter_norm, config.padding) == (
        "paper", "mae", "one", "per_block", "masked")
    authors = KudaConfig.from_dict({**architecture, **dict.fromkeys(DATA_SHAPES, 1), "reference": "authors_code"})
    assert (authors.task_loss, authors.test_ratio, authors.adapter_norm, authors.padding) == (
        "mse", "skip", "shared", "all_steps")
    train = TrainConfig.from_dict(parameters[dataset]["fusion_training"]["train"])
    assert (train.weight_decay, train.schedule_step, train.warmup_fraction) == (1e-5, "epoch", 0.1)
    assert (config.vision_encoder.dropout, config.vision_encoder.attention_dropout) == (0.2, 0.2)
    assert (config.text_adapter.dropout, config.text_adapter.attention_dropout) == (0.1, 0.1)
    assert config.frozen_adapter_dropout



def test_every_paper_parameter_reaches_mlflow_as_one_flat_value(parameters):
    """kedro-mlflow logs node parameter inputs flattened recursively with "." (conf/base/mlflow.yml); every leaf
    must come out as a scalar param within MLflow's length limit, nested architecture included."""
    from kedro_mlflow.framework.hooks.utils import _flatten_dict
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env="paper",
                               config_patterns={"mlflow": ["mlflow*", "mlflow*/**"]},
                               custom_resolvers=CONFIG_LOADER_ARGS["custom_resolvers"])
    mlflow_conf = loader["mlflow"]
    dict_params = mlflow_conf["tracking"]["params"]["dict_params"]
    assert (dict_params["flatten"], dict_params["recursive"], dict_params["sep"]) == (True, True, ".")
    for dataset in DATASETS:
        inputs = {f"{dataset}.{section}": parameters[dataset][section] for section in ("model", "fusion_training")}
        flat = _flatten_dict(inputs, recursive=True, sep=".")
        assert not [key for key, value in flat.items() if isinstance(value, dict)]
        assert all(len(str(value)) <= MAX_PARAM_VAL_LENGTH for value in flat.values())
        assert flat[f"{dataset}.model.architecture.vision_encoder.attention_dropout"] == 0.2
        assert flat[f"{dataset}.model.architecture.text_adapter.num_blocks"] == len(
            parameters[dataset]["model"]["architecture"]["text_injection_layers"])
        assert flat[f"{dataset}.model.architecture.reference"] == "paper"
        assert flat[f"{dataset}.fusion_training.train.schedule_step"] == "epoch"
