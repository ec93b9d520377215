"""Ingestion template: ``raw_mmsa`` → ``split_arrays``, ``samples``, ``ingestion_report``."""

from kedro.pipeline import Node, Pipeline

from .nodes import ingest_raw_dataset


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(
            ingest_raw_dataset,
            inputs=["raw_mmsa", "params:text_encoder", "params:ingestion"],
            outputs=["split_arrays", "samples", "ingestion_report"],
            name="ingest_raw_dataset",
        )
    ])
