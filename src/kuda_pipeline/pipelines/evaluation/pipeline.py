"""Evaluation template: ``test_predictions``, ``test_metrics`` and the ``serving_model`` (MLflow pyfunc); and the
comparison of several datasets' test metrics with the paper's main results."""

from collections.abc import Sequence
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import compare_with_paper, evaluate_fusion_model, package_serving_model

COMPARISON_NAMESPACE = "paper"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(
            evaluate_fusion_model,
            inputs=["fusion_model", "split_arrays", "params:text_encoder", "params:model", "params:evaluation"],
            outputs=["test_predictions", "test_metrics", "test_metrics_tracked"],
            name="evaluate_fusion_model",
        ),
        Node(
            package_serving_model,
            inputs=["fusion_model", "split_arrays", "params:text_encoder", "params:model", "params:evaluation"],
            outputs="serving_model",
            name="package_serving_model",
        ),
    ])


def create_comparison_pipeline(datasets: Sequence[str]) -> Pipeline:
    """``paper_results`` + ``<ds>.test_metrics`` of each dataset → ``paper.comparison`` (Markdown)."""
    metrics = [f"{dataset}.test_metrics" for dataset in datasets]
    compare = update_wrapper(partial(compare_with_paper, datasets=tuple(datasets)), compare_with_paper)
    template = Pipeline([Node(compare, inputs=["paper_results", *metrics], outputs="comparison",
                              name="compare_with_paper")])
    return Pipeline(template, namespace=COMPARISON_NAMESPACE, inputs={"paper_results", *metrics})
