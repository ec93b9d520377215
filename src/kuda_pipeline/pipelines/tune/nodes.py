"""Nodes of the tune pipeline: the search (training and validation splits only), then one test evaluation."""

from __future__ import annotations

from typing import Any

import pandas as pd

from kuda_pipeline.experiments.runner import DatasetInputs
from kuda_pipeline.pipelines._common import text_encoder_source


def _inputs(dataset: str, split_arrays: dict, knowledge: dict, text_encoder: str, model: dict,
            fusion_training: dict, evaluation: dict | None = None) -> DatasetInputs:
    return DatasetInputs(dataset=dataset, arrays=split_arrays, knowledge=knowledge,
                         architecture=model["architecture"], text_encoder=text_encoder,
                         text_encoder_dir=text_encoder_source(text_encoder), train=fusion_training["train"],
                         scheme=model["scheme"], evaluation=evaluation or {})


def search_hyperparameters(
    tune: dict, split_arrays: dict, knowledge_t: dict, knowledge_v: dict, knowledge_a: dict, text_encoder: str,
    model: dict, fusion_training: dict, dataset: str,
) -> tuple[pd.DataFrame, dict[str, Any], list[dict[str, Any]]]:
    """Every trial (one row each), the best configuration (on the validation metric) and one MLflow record per
    trial. Only the training and validation splits reach the trials."""
    from kuda_pipeline.experiments.tuning import TuneSpec, run_search, tune_tracking_records

    spec = TuneSpec.from_params(tune)
    inputs = _inputs(dataset, split_arrays, {"t": knowledge_t, "v": knowledge_v, "a": knowledge_a}, text_encoder,
                     model, fusion_training)
    search = run_search(spec, inputs)
    return search.trials, search.best, tune_tracking_records(spec, dataset, search)


def evaluate_best_configuration(
    tune: dict, best_configuration: dict, trials: pd.DataFrame, split_arrays: dict, knowledge_t: dict,
    knowledge_v: dict, knowledge_a: dict, text_encoder: str, model: dict, fusion_training: dict, evaluation: dict,
    dataset: str,
) -> tuple[dict[str, Any], str]:
    """The chosen configuration trained once more and evaluated on the test split, once; the Markdown report."""
    from kuda_pipeline.experiments.tuning import TuneSpec, evaluate_best, render_tune_report

    spec = TuneSpec.from_params(tune)
    inputs = _inputs(dataset, split_arrays, {"t": knowledge_t, "v": knowledge_v, "a": knowledge_a}, text_encoder,
                     model, fusion_training, evaluation)
    result = evaluate_best(spec, inputs, best_configuration)
    return result, render_tune_report(spec, dataset, trials, result)
