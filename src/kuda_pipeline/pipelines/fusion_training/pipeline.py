"""Stage-2 template: ``split_arrays`` + ``knowledge_<m>`` → ``fusion_model`` and ``fusion_training_summary``."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_fusion_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(
            train_fusion_model,
            inputs=["split_arrays", "knowledge_t", "knowledge_v", "knowledge_a",
                    "params:text_encoder", "params:model", "params:fusion_training"],
            outputs=["fusion_model", "fusion_training_summary", "fusion_metrics_history"],
            name="train_fusion_model",
        )
    ])
