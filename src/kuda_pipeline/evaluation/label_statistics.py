"""Appendix A of the paper: dominant-modality and noise-modality shares from unimodal labels.

A modality m is dominant in a sample when its unimodal label is (one of) the closest to the
multimodal label: ``|y_m - y| <= min_m' |y_m' - y| + tolerance``, so ties make several
modalities dominant and the three shares can add up to more than 1. Ties are detected up to
``TIE_MARGIN`` (1e-6) rather than exactly: the labels are stored in float32, whose rounding
(about 6e-8 near 1) would otherwise split ties such as |0.8 - 0.6| vs |0.6 - 0.4|; the label
grids of CH-SIMS and CH-SIMSv2 (steps of 0.2) are far coarser than the margin.

A modality is a noise modality when its polarity differs from the multimodal polarity. Polarity
is negative for y < -neutral_band, positive for y > neutral_band and neutral otherwise; the
default band 0.1 matches the neutral class (-0.1, 0.1] of the Acc-3 metric up to its closed
lower edge, and ``neutral_band=0`` gives the plain sign. The band is compared in the labels' own
precision, like the metrics' class edges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kuda_pipeline.data.contract import LABEL_KEY, MODALITIES, TIE_MARGIN, UNIMODAL_LABEL_KEYS

UNIMODAL_COLUMNS = tuple(UNIMODAL_LABEL_KEYS.values())
REQUIRED_COLUMNS = ("split", LABEL_KEY, *UNIMODAL_COLUMNS)
ALL_SPLITS = "all"
DOMINANT_SHARE_COLUMNS = {m: f"dominant_share_{m.upper()}" for m in MODALITIES}
SHARE_COLUMNS = (
    *DOMINANT_SHARE_COLUMNS.values(),
    "noise_share",
    *(f"noise_share_{m.upper()}" for m in MODALITIES),
)
STATISTICS_COLUMNS = ("split", "n_samples", *SHARE_COLUMNS)


def dominance_statistics(samples: pd.DataFrame, tolerance: float = 0.0, neutral_band: float = 0.1) -> pd.DataFrame:
    """One row per split (in order of first appearance) and a last row "all" over every sample.

    Columns: split, n_samples, dominant_share_T/V/A, noise_share (samples with at least one noise
    modality), noise_share_T/V/A; shares are fractions in [0, 1].
    """
    labels = _validated_labels(samples, tolerance, neutral_band)  # (N, 4): y, y_T, y_V, y_A
    multimodal, unimodal = labels[:, :1], labels[:, 1:]  # (N, 1), (N, 3)
    distance = np.abs(unimodal.astype(np.float64) - multimodal.astype(np.float64))  # (N, 3)
    dominant = distance <= distance.min(axis=1, keepdims=True) + tolerance + TIE_MARGIN  # (N, 3)
    noise = polarity(unimodal, neutral_band) != polarity(multimodal, neutral_band)  # (N, 3)
    flags = np.column_stack([dominant, noise.any(axis=1), noise])  # (N, 7), in SHARE_COLUMNS order
    per_sample = pd.DataFrame(flags, columns=list(SHARE_COLUMNS)).assign(split=samples["split"].to_numpy())
    grouped = per_sample.groupby("split", sort=False)
    per_split = grouped.mean().assign(n_samples=grouped.size())
    overall = per_sample[list(SHARE_COLUMNS)].mean().to_frame(ALL_SPLITS).T.assign(n_samples=len(per_sample))
    table = pd.concat([per_split, overall]).rename_axis("split").reset_index()
    return table[list(STATISTICS_COLUMNS)].astype({"n_samples": np.int64, **dict.fromkeys(SHARE_COLUMNS, np.float64)})


def polarity(scores: np.ndarray, neutral_band: float) -> np.ndarray:
    """-1 below -neutral_band, +1 above neutral_band, 0 in between (edges included)."""
    band = np.asarray(neutral_band, dtype=scores.dtype)
    return (scores > band).astype(np.int8) - (scores < -band).astype(np.int8)


def _validated_labels(samples: pd.DataFrame, tolerance: float, neutral_band: float) -> np.ndarray:
    missing = [column for column in REQUIRED_COLUMNS if column not in samples.columns]
    if missing:
        raise ValueError(f"samples table lacks column(s) {missing}; it has {list(samples.columns)}")
    if len(samples) == 0:
        raise ValueError("samples table is empty: no label statistics to compute")
    if tolerance < 0 or neutral_band < 0:
        raise ValueError(f"tolerance and neutral_band must be >= 0, got {tolerance=}, {neutral_band=}")
    if (samples["split"] == ALL_SPLITS).any():
        raise ValueError(f"a split may not be named {ALL_SPLITS!r}: the name is reserved for the overall row")
    label_columns = list(REQUIRED_COLUMNS[1:])
    keeps_float32 = all(samples[column].dtype == np.float32 for column in label_columns)
    labels = samples[label_columns].to_numpy(dtype=np.float32 if keeps_float32 else np.float64, na_value=np.nan)
    bad_rows = np.flatnonzero(~np.isfinite(labels).all(axis=1))
    if bad_rows.size:
        raise ValueError(
            f"{bad_rows.size} sample(s) with a missing or non-finite label, "
            f"e.g. rows {samples.index[bad_rows[:5]].tolist()}"
        )
    return labels
