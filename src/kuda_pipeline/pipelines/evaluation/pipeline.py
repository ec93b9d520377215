"""Evaluation template: ``test_predictions``, ``test_metrics`` and the ``serving_model`` (MLflow pyfunc)."""

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_fusion_model, package_serving_model


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
            inputs=["fusion_model", "params:text_encoder", "params:model"],
            outputs="serving_model",
            name="package_serving_model",
        ),
    ])
