"""Label-statistics template: ``samples`` → ``label_statistics`` table and two figures."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import compute_label_statistics


def create_pipeline(dataset: str, **kwargs) -> Pipeline:
    """The template for the dataset namespace ``dataset``, whose name titles the figures."""
    return Pipeline([
        Node(
            update_wrapper(partial(compute_label_statistics, dataset=dataset), compute_label_statistics),
            inputs=["samples", "params:label_statistics"],
            outputs=["label_statistics", "dominance_figure", "noise_figure"],
            name="compute_label_statistics",
        )
    ])
