"""Label-statistics template: ``samples`` → ``label_statistics`` table and two figures."""

from kedro.pipeline import Node, Pipeline

from .nodes import compute_label_statistics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(
            compute_label_statistics,
            inputs=["samples", "params:label_statistics"],
            outputs=["label_statistics", "dominance_figure", "noise_figure"],
            name="compute_label_statistics",
        )
    ])
