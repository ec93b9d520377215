"""Figures of Appendix A (the paper's Figures 7 and 8) from a `dominance_statistics` table.

Figures are built as `matplotlib.figure.Figure` objects, without pyplot's global state, so that
any backend (or none) can save them. An empty table, as for datasets without unimodal labels,
gives a figure that says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from kuda_pipeline.data.contract import MODALITIES, MODALITY_NAMES
from kuda_pipeline.evaluation.label_statistics import DOMINANT_SHARE_COLUMNS
GROUP_WIDTH = 0.8


def plot_dominance(stats: pd.DataFrame, dataset: str) -> Figure:
    """Grouped bars: per split, the percentage of samples in which text, vision or audio dominates."""
    figure, axes = _new_axes(f"{dataset}: samples dominated by each modality")
    columns = [DOMINANT_SHARE_COLUMNS[modality] for modality in MODALITIES]
    if stats.empty:
        return _no_statistics(figure, axes)
    _check_columns(stats, columns)
    positions = np.arange(len(stats))
    width = GROUP_WIDTH / len(MODALITIES)
    for offset, (modality, column) in enumerate(zip(MODALITIES, columns, strict=True)):
        bars = axes.bar(
            positions + (offset - (len(MODALITIES) - 1) / 2) * width,
            100 * stats[column].to_numpy(),
            width,
            label=MODALITY_NAMES[modality],
        )
        axes.bar_label(bars, fmt="%.0f", fontsize="x-small")
    axes.legend(loc="upper center", ncols=len(MODALITIES), fontsize="small")
    return _finish(figure, axes, stats, "samples dominated (%)")


def plot_noise(stats: pd.DataFrame, dataset: str) -> Figure:
    """One bar per split: the percentage of samples with at least one noise modality."""
    figure, axes = _new_axes(f"{dataset}: samples containing a noise modality")
    if stats.empty:
        return _no_statistics(figure, axes)
    _check_columns(stats, ["noise_share"])
    bars = axes.bar(np.arange(len(stats)), 100 * stats["noise_share"].to_numpy(), GROUP_WIDTH / 2, color="tab:red")
    axes.bar_label(bars, fmt="%.1f", fontsize="small")
    return _finish(figure, axes, stats, "samples with a noise modality (%)")


def _new_axes(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    return figure, axes


def _finish(figure: Figure, axes: Axes, stats: pd.DataFrame, ylabel: str) -> Figure:
    axes.set_xticks(np.arange(len(stats)), [str(split) for split in stats["split"]])
    axes.set_xlabel("split")
    axes.set_ylabel(ylabel)
    axes.set_ylim(0, 120)  # headroom for the bar labels and the legend
    axes.set_yticks(np.arange(0, 101, 20))
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=100))
    return figure


def _no_statistics(figure: Figure, axes: Axes) -> Figure:
    axes.text(0.5, 0.5, "no unimodal labels: statistics not available", ha="center", va="center")
    axes.set_axis_off()
    return figure


def _check_columns(stats: pd.DataFrame, columns: list[str]) -> None:
    missing = [column for column in ("split", *columns) if column not in stats.columns]
    if missing:
        raise ValueError(f"statistics table lacks column(s) {missing}; it has {list(stats.columns)}")
