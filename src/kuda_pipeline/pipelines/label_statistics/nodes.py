"""Nodes of the label-statistics stage (Appendix A)."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

from kuda_pipeline.evaluation.figures import plot_dominance, plot_noise
from kuda_pipeline.evaluation.label_statistics import UNIMODAL_COLUMNS, dominance_statistics

logger = logging.getLogger(__name__)


def compute_label_statistics(
    samples: pd.DataFrame, label_statistics: dict, dataset: str
) -> tuple[pd.DataFrame, Figure, Figure]:
    """Dominance and noise shares per split, and the figures like the paper's Figures 7 and 8 (titled `dataset`)."""
    missing = [column for column in UNIMODAL_COLUMNS if column not in samples.columns]
    if missing:
        logger.warning("%s: Appendix A statistics skipped: no unimodal labels (%s)", dataset, ", ".join(missing))
        stats = pd.DataFrame()
    else:
        stats = dominance_statistics(
            samples, tolerance=label_statistics["tolerance"], neutral_band=label_statistics["neutral_band"]
        )
    return stats, plot_dominance(stats, dataset), plot_noise(stats, dataset)
