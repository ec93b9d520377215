"""The tidy results table (one row per cell and metric), its mean ± std over seeds, and per-cell tracking records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from kuda_pipeline.experiments.runner import CellResult
from kuda_pipeline.experiments.statistics import STATISTICS_COLUMNS, seed_statistics

RESULT_COLUMNS = ["grid", "dataset", "variant", "seed", "metric", "value"]
SUMMARY_COLUMNS = ["grid", "dataset", "variant", "metric", "mean", "std", "n", *STATISTICS_COLUMNS]
REFERENCE_VARIANT = "KuDA"  # the full model: every other variant is tested against it


def results_table(grid: str, cells: Iterable[CellResult]) -> pd.DataFrame:
    """Columns ``RESULT_COLUMNS``: the test metrics of every cell, in grid order."""
    rows = [
        (grid, cell.dataset, cell.variant, cell.seed, metric, float(value))
        for cell in cells
        for metric, value in cell.test_metrics.items()
    ]
    table = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return table.astype({"seed": np.int64, "value": np.float64})


def summarise(results: pd.DataFrame, reference: str = REFERENCE_VARIANT) -> pd.DataFrame:
    """Columns ``SUMMARY_COLUMNS``: per (grid, dataset, variant, metric) the mean, the sample standard deviation
    (ddof=1; NaN for one seed) and the number of seeds, in the order of first appearance; then the 95 % CI and the
    paired t-test against ``reference`` (``statistics.seed_statistics``)."""
    missing = sorted(set(RESULT_COLUMNS) - set(results.columns))
    if missing:
        raise ValueError(f"results table lacks column(s) {missing}; it has {list(results.columns)}")
    grouped = results.groupby(["grid", "dataset", "variant", "metric"], sort=False)["value"]
    summary = grouped.agg(mean="mean", std="std", n="count").reset_index()  # pandas std: ddof=1
    return seed_statistics(summary[SUMMARY_COLUMNS[:7]].astype({"n": np.int64}), results, reference)


def tracking_records(grid: str, cells: Iterable[CellResult]) -> list[dict[str, Any]]:
    """One record per cell for its own MLflow run: ``grid``, ``run_name``, ``tags`` (grid, dataset, variant, seed,
    trial = the cell key), ``params``, finite ``metrics``."""
    records = []
    for cell in cells:
        overrides = {f"override.{key}": value for key, value in cell.overrides["architecture"].items()}
        metrics = {f"test.{name}": value for name, value in cell.test_metrics.items()}
        metrics.update({f"valid.{name}": value for name, value in cell.valid_metrics.items()})
        metrics.update({"best_epoch": cell.best_epoch, "seconds": cell.seconds})
        records.append({
            "grid": grid,
            "run_name": f"{cell.dataset} | {cell.variant} | seed {cell.seed}",
            "tags": {"grid": grid, "dataset": cell.dataset, "variant": cell.variant, "seed": str(cell.seed),
                     "trial": cell.key, "cell_key": cell.key},
            "params": {"dataset": cell.dataset, "variant": cell.variant, "seed": cell.seed, "cell_key": cell.key,
                       "use_knowledge": cell.overrides["use_knowledge"], **overrides},
            "metrics": {name: float(value) for name, value in metrics.items() if np.isfinite(value)},
        })
    return records
