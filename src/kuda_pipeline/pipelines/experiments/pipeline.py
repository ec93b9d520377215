"""Experiments: a grid of dataset × variant × seed on the ``full`` pipeline's split arrays and stage-1 checkpoints.

Per dataset namespace ``ns``: ``ns.split_arrays``, ``ns.knowledge_{t,v,a}`` and ``ns.experiment_cells_finished``
(the cells already on disk) → ``ns.experiment_cells`` (the new ones), ``ns.experiment_cell_runs`` (MLflow) and
``experiment_grid_cells_<ns>``; then, over all datasets, ``experiment_results``, ``experiment_summary``,
``experiment_report`` and two figures.
"""

from collections.abc import Sequence
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import (
    plan_experiment_grid,
    plot_experiment_figures,
    run_experiment_cells,
    tabulate_experiment_results,
    write_experiment_report,
)


def _bound(function, **values):
    return update_wrapper(partial(function, **values), function)


def _dataset_cells(dataset: str) -> Pipeline:
    template = Pipeline([
        Node(
            _bound(run_experiment_cells, dataset=dataset),
            inputs=["experiment_grid", "split_arrays", "knowledge_t", "knowledge_v", "knowledge_a",
                    "experiment_cells_finished", "params:text_encoder", "params:model", "params:fusion_training",
                    "params:evaluation"],
            outputs=["experiment_cells", "experiment_cell_runs", "experiment_grid_cells"],
            name="run_experiment_cells",
        )
    ])
    # the results leave the namespace under a dot-free name, for the nodes that gather every dataset's cells
    return Pipeline(template, namespace=dataset, inputs={"experiment_grid"},
                    outputs={"experiment_grid_cells": _grid_cells(dataset)})


def _grid_cells(dataset: str) -> str:
    return f"experiment_grid_cells_{dataset}"


def create_pipeline(datasets: Sequence[str], **kwargs) -> Pipeline:
    """The experiments over the dataset namespaces ``datasets`` (the grid may use any of them)."""
    if not datasets:
        raise ValueError("the experiments pipeline needs at least one dataset namespace, got none")
    grid_cells = [_grid_cells(dataset) for dataset in datasets]
    plan = Pipeline([
        Node(
            _bound(plan_experiment_grid, datasets=tuple(datasets)),
            inputs=["params:experiments", "params:experiment_variants"],
            outputs="experiment_grid",
            name="plan_experiment_grid",
        )
    ])
    summary = Pipeline([
        Node(tabulate_experiment_results, inputs=["experiment_grid", *grid_cells],
             outputs=["experiment_results", "experiment_summary"], name="tabulate_experiment_results"),
        Node(write_experiment_report, inputs=["experiment_grid", "experiment_summary", "paper_results"],
             outputs="experiment_report", name="write_experiment_report"),
        Node(plot_experiment_figures, inputs=["experiment_grid", *grid_cells],
             outputs=["experiment_representations_figure", "experiment_cases_figure"],
             name="plot_experiment_figures"),
    ])
    return plan + sum((_dataset_cells(dataset) for dataset in datasets), Pipeline([])) + summary
