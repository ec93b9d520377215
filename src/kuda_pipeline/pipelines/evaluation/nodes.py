"""Nodes of the evaluation stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kuda_pipeline.evaluation.metrics import compute_metrics
from kuda_pipeline.evaluation.paper_comparison import paper_comparison_report
from kuda_pipeline.pipelines._common import text_encoder_source
from kuda_pipeline.pipelines._settings import EvaluationSettings, with_settings
from kuda_pipeline.serving import KudaPyfuncModel, build_pyfunc_model, input_example
from kuda_pipeline.training.stages import predict_split, restore_kuda


@with_settings
def evaluate_fusion_model(
    fusion_model: dict, split_arrays: dict, text_encoder: str, model: dict, evaluation: EvaluationSettings
) -> tuple[pd.DataFrame, dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Test predictions of the selected model; its metrics beside predicting the training mean; the finite ones."""
    kuda = restore_kuda(fusion_model, text_encoder_source(text_encoder))
    test = split_arrays[evaluation.split]
    predictions, metrics = predict_split(kuda, test, model["scheme"], evaluation.batch_size, evaluation.device)
    train_mean = np.full(len(test["label"]), float(np.mean(split_arrays["train"]["label"])))
    baseline = compute_metrics(train_mean, np.asarray(test["label"]), model["scheme"])
    finite = {f"test.{name}": {"value": value, "step": 0} for name, value in metrics.items() if np.isfinite(value)}
    return predictions, {"kuda": metrics, "train_mean_baseline": baseline}, finite


@with_settings
def package_serving_model(
    fusion_model: dict, split_arrays: dict, text_encoder: str, model: dict, evaluation: EvaluationSettings
) -> KudaPyfuncModel:
    """The selected stage-2 model as a self-contained MLflow pyfunc model (MMSA-format inputs), with two
    samples of the evaluated split as its input example."""
    example = input_example(split_arrays[evaluation.split])
    return build_pyfunc_model(fusion_model, text_encoder_source(text_encoder), model["scheme"], input_example=example)


def compare_with_paper(paper_results: dict, *test_metrics: dict, datasets: tuple[str, ...]) -> str:
    """Markdown report: the paper's main results beside the test metrics of ``datasets`` (in that order)."""
    return paper_comparison_report(paper_results, dict(zip(datasets, test_metrics, strict=True)))
