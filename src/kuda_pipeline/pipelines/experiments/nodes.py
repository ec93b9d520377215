"""Nodes of the experiments pipeline: plan the grid, run each dataset's cells, tabulate, report, plot."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from kuda_pipeline.experiments import (
    CellResult,
    DatasetInputs,
    GridSpec,
    choose_cases,
    parse_variants,
    plan_grid,
    plot_cases,
    plot_representations,
    render_report,
    results_table,
    run_grid_cells,
    summarise,
    tracking_records,
)
from kuda_pipeline.pipelines._common import text_encoder_source


def plan_experiment_grid(experiments: dict, experiment_variants: dict, datasets: tuple[str, ...]) -> GridSpec:
    """The validated grid; ``datasets``: the dataset namespaces the pipeline was built for."""
    return plan_grid(experiments, parse_variants(experiment_variants), datasets)


def run_experiment_cells(
    grid: GridSpec,
    split_arrays: dict,
    knowledge_t: dict,
    knowledge_v: dict,
    knowledge_a: dict,
    finished_cells: dict,
    text_encoder: str,
    model: dict,
    fusion_training: dict,
    evaluation: dict,
    dataset: str,
) -> tuple[dict[str, dict], list[dict[str, Any]], list[CellResult]]:
    """The cells of ``dataset`` not in ``finished_cells``: new partitions (key → record), one tracking record per
    newly trained cell, and every cell's result for the tables and figures."""
    inputs = DatasetInputs(
        dataset=dataset,
        arrays=split_arrays,
        knowledge={"t": knowledge_t, "v": knowledge_v, "a": knowledge_a},
        architecture=model["architecture"],
        text_encoder=text_encoder,
        text_encoder_dir=text_encoder_source(text_encoder),
        train=fusion_training["train"],
        scheme=model["scheme"],
        evaluation=evaluation,
    )
    run = run_grid_cells(grid.cells_of(dataset), inputs, grid.training, finished_cells)
    new_partitions = {key: result.to_record() for key, result in run.computed.items()}
    trained_now = [cell for cell in run.cells if cell.key in run.computed]
    return new_partitions, tracking_records(grid.name, trained_now), run.cells


def tabulate_experiment_results(
    grid: GridSpec, *cells_per_dataset: list[CellResult]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy results (grid, dataset, variant, seed, metric, value) and their mean ± std over seeds."""
    results = results_table(grid.name, [cell for cells in cells_per_dataset for cell in cells])
    return results, summarise(results)


def write_experiment_report(grid: GridSpec, summary: pd.DataFrame, paper_results: dict) -> str:
    """The Markdown report: each paper table beside our values."""
    return render_report(grid, summary, paper_results)


def plot_experiment_figures(grid: GridSpec, *cells_per_dataset: list[CellResult]) -> tuple[Figure, Figure]:
    """Figure 6 (embedding of Ĥ_t, Ĥ_v, Ĥ_a, X_N) and the Table 8-style case view of the figure cell."""
    spec = grid.figures
    cell = next(cell for cells in cells_per_dataset for cell in cells
                if (cell.dataset, cell.variant, cell.seed) == (spec.dataset, spec.variant, spec.seed))
    title = f"{spec.dataset}, {spec.variant}, seed {spec.seed}"
    representations = plot_representations(cell.probe, title, spec.embedding, spec.seed, spec.perplexity)
    cases = plot_cases(cell.probe, choose_cases(cell.probe, spec.cases), title)
    return representations, cases
