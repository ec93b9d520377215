"""Nodes of the experiments pipeline: plan the grid, run each dataset's cells, tabulate, report, plot."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from kuda_pipeline.experiments import (
    CellResult,
    DatasetInputs,
    GridRun,
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
from kuda_pipeline.experiments.ray_settings import RaySettings
from kuda_pipeline.experiments.runner import CellExecutor, run_sequentially
from kuda_pipeline.pipelines._common import text_encoder_source


def _executor(settings: RaySettings) -> CellExecutor:
    """Ray tasks when ``experiments.ray.enabled`` (Ray is imported only then), else one cell after another."""
    if not settings.enabled:
        return run_sequentially
    from kuda_pipeline.experiments.ray_cells import RayCellExecutor

    return RayCellExecutor(settings)


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
) -> tuple[dict[str, dict], list[dict[str, Any]], GridRun]:
    """The cells of ``dataset`` not in ``finished_cells``: new partitions (key → record), one tracking record per
    newly trained cell, and the grid run (every finished cell's result, the failed cells)."""
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
    run = run_grid_cells(grid.cells_of(dataset), inputs, grid.training, finished_cells, _executor(grid.ray))
    new_partitions = {key: result.to_record() for key, result in run.computed.items()}
    trained_now = [cell for cell in run.cells if cell.key in run.computed]
    return new_partitions, tracking_records(grid.name, trained_now), run


def _finished_cells(runs: tuple[GridRun, ...]) -> list[CellResult]:
    """Every dataset's cells; an error when a cell failed (after its retries): the new partitions of the finished
    ones are saved by then, so a rerun trains only the failed cells."""
    failed = {key: description for run in runs for key, description in run.failed.items()}
    if failed:
        listing = "; ".join(f"{key} {description}" for key, description in failed.items())
        raise RuntimeError(f"{len(failed)} grid cell(s) failed: {listing}. The other cells are saved; run again to "
                           "train only the failed ones")
    return [cell for run in runs for cell in run.cells]


def tabulate_experiment_results(grid: GridSpec, *runs_per_dataset: GridRun) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy results (grid, dataset, variant, seed, metric, value) and their mean ± std over seeds."""
    results = results_table(grid.name, _finished_cells(runs_per_dataset))
    return results, summarise(results)


def write_experiment_report(grid: GridSpec, summary: pd.DataFrame, paper_results: dict) -> str:
    """The Markdown report: each paper table beside our values."""
    return render_report(grid, summary, paper_results)


def plot_experiment_figures(grid: GridSpec, *runs_per_dataset: GridRun) -> tuple[Figure, Figure]:
    """Figure 6 (embedding of Ĥ_t, Ĥ_v, Ĥ_a, X_N) and the Table 8-style case view of the figure cell."""
    spec = grid.figures
    cell = next(cell for cell in _finished_cells(runs_per_dataset)
                if (cell.dataset, cell.variant, cell.seed) == (spec.dataset, spec.variant, spec.seed))
    title = f"{spec.dataset}, {spec.variant}, seed {spec.seed}"
    representations = plot_representations(cell.probe, title, spec.embedding, spec.seed, spec.perplexity)
    cases = plot_cases(cell.probe, choose_cases(cell.probe, spec.cases), title)
    return representations, cases
