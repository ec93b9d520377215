"""Experiments library (no Kedro, no MLflow): the grid of dataset × variant × seed, results, report, figures."""

from kuda_pipeline.experiments.figures import choose_cases, plot_cases, plot_representations
from kuda_pipeline.experiments.grid import CellSpec, FigureSpec, GridSpec, plan_grid
from kuda_pipeline.experiments.keys import cell_key
from kuda_pipeline.experiments.probe import CellProbe, probe_model
from kuda_pipeline.experiments.report import load_paper_results, render_report
from kuda_pipeline.experiments.results import results_table, summarise, tracking_records
from kuda_pipeline.experiments.runner import CellResult, DatasetInputs, GridRun, run_cell, run_grid_cells
from kuda_pipeline.experiments.variants import Variant, parse_variants

__all__ = [
    "CellProbe",
    "CellResult",
    "CellSpec",
    "DatasetInputs",
    "FigureSpec",
    "GridRun",
    "GridSpec",
    "Variant",
    "cell_key",
    "choose_cases",
    "load_paper_results",
    "parse_variants",
    "plan_grid",
    "plot_cases",
    "plot_representations",
    "probe_model",
    "render_report",
    "results_table",
    "run_cell",
    "run_grid_cells",
    "summarise",
    "tracking_records",
]
