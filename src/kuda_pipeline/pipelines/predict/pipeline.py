"""Predict template: ``new_samples`` (+ ``trained_fusion_model`` or a registered model) → ``predictions``."""

from kedro.pipeline import Node, Pipeline

from .nodes import predict_new_samples


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(
            predict_new_samples,
            inputs=["new_samples", "trained_fusion_model", "params:text_encoder", "params:model",
                    "params:ingestion", "params:predict"],
            outputs="predictions",
            name="predict_new_samples",
        )
    ])
