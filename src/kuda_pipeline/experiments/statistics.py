"""Statistics over seeds: 95 % confidence intervals (Student's t) and paired t-tests against the reference variant."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
STATISTICS_COLUMNS = ["ci95_low", "ci95_high", "reference", "diff_vs_reference", "p_paired", "n_paired"]


def confidence_interval(mean: float, std: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """mean ± t_{(1+confidence)/2, n-1} · std / √n (std: the sample std); NaN for fewer than 2 seeds."""
    if n < 2 or math.isnan(std):
        return math.nan, math.nan
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


def paired_t_test(values: pd.Series, reference: pd.Series) -> tuple[float, float, int]:
    """Mean difference ``values - reference`` over the seeds both have (Series indexed by seed), the two-sided
    p-value of the paired t-test (``scipy.stats.ttest_rel``) and the number of pairs; NaN below 2 pairs or when
    every difference is the same (no spread to test against)."""
    seeds = values.index.intersection(reference.index)
    pairs = len(seeds)
    if pairs == 0:
        return math.nan, math.nan, 0
    differences = values.loc[seeds].to_numpy() - reference.loc[seeds].to_numpy()
    mean_difference = float(differences.mean())
    if pairs < 2 or np.ptp(differences) == 0:
        return mean_difference, math.nan, pairs
    return mean_difference, float(stats.ttest_rel(values.loc[seeds], reference.loc[seeds]).pvalue), pairs


def seed_statistics(summary: pd.DataFrame, results: pd.DataFrame, reference: str) -> pd.DataFrame:
    """``summary`` (mean, std, n per grid, dataset, variant, metric) with ``STATISTICS_COLUMNS``: the 95 % CI of
    the mean and, against the ``reference`` variant of the same dataset and metric (same seeds), the mean
    difference and the paired t-test's p-value (NaN for the reference itself or when it was not run)."""
    per_seed = results.set_index(["grid", "dataset", "variant", "metric", "seed"])["value"].sort_index()
    rows = []
    for row in summary.itertuples(index=False):
        low, high = confidence_interval(row.mean, row.std, row.n)
        difference, p_value, pairs = math.nan, math.nan, 0
        reference_key = (row.grid, row.dataset, reference, row.metric)
        if row.variant != reference and reference_key in per_seed.index.droplevel("seed"):
            difference, p_value, pairs = paired_t_test(per_seed.loc[(row.grid, row.dataset, row.variant, row.metric)],
                                                       per_seed.loc[reference_key])
        rows.append((low, high, reference, difference, p_value, pairs))
    extra = pd.DataFrame(rows, columns=STATISTICS_COLUMNS, index=summary.index).astype({"n_paired": np.int64})
    return pd.concat([summary, extra], axis=1)
