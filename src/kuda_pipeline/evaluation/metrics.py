"""Regression metrics with the MMSA platform's definitions (``utils/metricsTop.py``), in numpy.

Accuracies and F1 scores are fractions in [0, 1] (the report layer converts them to percent);
MAE is in label units; Corr is Pearson's r. Every F1 comes in two conventions: ``F1*`` as MMSA
(``f1_score(true, pred, average="weighted")``: class F1s weighted by the true class counts) and
``F1*_authors`` as the KuDA authors' code (``f1_score(pred, true, ...)``: weighted by the predicted
class counts); they differ when the predictions are biased towards one class. Class edges are compared in the inputs' own floating
precision, as MMSA does with float32 tensors: a float32 label ``0.1`` lies in (-0.1, 0.1].
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

logger = logging.getLogger(__name__)

MetricScheme = Literal["sims", "mosi"]

SIMS_ACC2_EDGES = (0.0,)
SIMS_ACC3_EDGES = (-0.1, 0.1)
SIMS_ACC5_EDGES = (-0.7, -0.1, 0.1, 0.7)


def sims_metrics(pred: ArrayLike, label: ArrayLike) -> dict[str, float]:
    """CH-SIMS metrics: Acc2, Acc3, Acc5, F1 and F1_authors (weighted, Acc-2 classes), MAE, Corr.

    Scores are clipped to [-1, 1] before everything, MAE and Corr included (as MMSA does).
    Classes are left-open intervals: Acc-2 {[-1, 0], (0, 1]}, Acc-3 {[-1, -0.1], (-0.1, 0.1],
    (0.1, 1]}, Acc-5 {[-1, -0.7], (-0.7, -0.1], (-0.1, 0.1], (0.1, 0.7], (0.7, 1]}.
    """
    pred_values, label_values = _validated_pair(pred, label)
    pred_values, label_values = np.clip(pred_values, -1, 1), np.clip(label_values, -1, 1)
    pred_2, label_2 = _interval_classes(pred_values, SIMS_ACC2_EDGES), _interval_classes(label_values, SIMS_ACC2_EDGES)
    return {
        "Acc2": _accuracy(pred_2, label_2),
        "Acc3": _accuracy(
            _interval_classes(pred_values, SIMS_ACC3_EDGES), _interval_classes(label_values, SIMS_ACC3_EDGES)
        ),
        "Acc5": _accuracy(
            _interval_classes(pred_values, SIMS_ACC5_EDGES), _interval_classes(label_values, SIMS_ACC5_EDGES)
        ),
        "F1": weighted_f1(pred_2, label_2),
        "F1_authors": authors_weighted_f1(pred_2, label_2),
        "MAE": _mean_absolute_error(pred_values, label_values),
        "Corr": pearson_correlation(pred_values, label_values),
    }


def mosi_metrics(pred: ArrayLike, label: ArrayLike) -> dict[str, float]:
    """CMU-MOSI / MOSEI metrics: Acc7, Acc5, Acc2_has0, F1_has0, Acc2_non0, F1_non0, MAE, Corr, and
    F1_has0_authors, F1_non0_authors.

    Acc-7 compares ``np.round(clip(x, -3, 3))`` and Acc-5 ``np.round(clip(x, -2, 2))`` (numpy rounds
    halves to even: 0.5 → 0, 1.5 → 2). "has-0": negative (< 0) vs non-negative (>= 0) over all
    samples. "non-0": only samples whose true label is not 0, negative-or-zero vs positive (> 0)
    as MMSA computes it; nan with a warning when every true label is 0. MAE and Corr use the
    unclipped scores.
    """
    pred_values, label_values = _validated_pair(pred, label)
    has0_pred, has0_label = pred_values >= 0, label_values >= 0
    non_zero = label_values != 0
    non0_pred, non0_label = pred_values[non_zero] > 0, label_values[non_zero] > 0
    if non_zero.any():
        acc2_non0, f1_non0 = _accuracy(non0_pred, non0_label), weighted_f1(non0_pred, non0_label)
        f1_non0_authors = authors_weighted_f1(non0_pred, non0_label)
    else:
        logger.warning("all %d true labels are 0: Acc2_non0 and F1_non0 are nan", label_values.size)
        acc2_non0, f1_non0, f1_non0_authors = float("nan"), float("nan"), float("nan")
    return {
        "Acc7": _rounded_accuracy(pred_values, label_values, bound=3),
        "Acc5": _rounded_accuracy(pred_values, label_values, bound=2),
        "Acc2_has0": _accuracy(has0_pred, has0_label),
        "F1_has0": weighted_f1(has0_pred, has0_label),
        "Acc2_non0": acc2_non0,
        "F1_non0": f1_non0,
        "MAE": _mean_absolute_error(pred_values, label_values),
        "Corr": pearson_correlation(pred_values, label_values),
        "F1_has0_authors": authors_weighted_f1(has0_pred, has0_label),
        "F1_non0_authors": f1_non0_authors,
    }


METRIC_FUNCTIONS: dict[str, Callable[[ArrayLike, ArrayLike], dict[str, float]]] = {
    "sims": sims_metrics,
    "mosi": mosi_metrics,
}


def metric_names(scheme: MetricScheme) -> tuple[str, ...]:
    """The keys of ``scheme``'s metrics (what a selection metric may name), read off the metric function itself."""
    probe = np.array([-0.5, 0.5])
    return tuple(compute_metrics(probe, probe, scheme))


def compute_metrics(pred: ArrayLike, label: ArrayLike, scheme: MetricScheme) -> dict[str, float]:
    """The metrics of ``scheme``: "sims" (CH-SIMS, CH-SIMSv2) or "mosi" (CMU-MOSI, CMU-MOSEI)."""
    if scheme not in METRIC_FUNCTIONS:
        raise ValueError(f"unknown metric scheme {scheme!r}; valid schemes: {sorted(METRIC_FUNCTIONS)}")
    return METRIC_FUNCTIONS[scheme](pred, label)


def weighted_f1(pred_classes: np.ndarray, true_classes: np.ndarray) -> float:
    """F1 per class (over classes seen in either array), averaged with the true class counts as weights.

    Same value as ``sklearn.metrics.f1_score(true, pred, average="weighted")``.
    """
    classes = np.union1d(pred_classes, true_classes)
    pred_hits = pred_classes[:, None] == classes  # (N, C)
    true_hits = true_classes[:, None] == classes  # (N, C)
    true_positives = (pred_hits & true_hits).sum(axis=0)
    support = true_hits.sum(axis=0)
    f1 = 2 * true_positives / (support + pred_hits.sum(axis=0))  # 2TP / (2TP + FP + FN), never 0 / 0
    return float(np.sum(f1 * support) / np.sum(support))


def authors_weighted_f1(pred_classes: np.ndarray, true_classes: np.ndarray) -> float:
    """The KuDA authors' F1: ``sklearn.metrics.f1_score(pred, true, average="weighted")``, arguments swapped.

    The per-class F1 is symmetric in its two arguments; the weights become the predicted class counts.
    """
    return weighted_f1(true_classes, pred_classes)


def pearson_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r in float64; nan (with a logged warning) when either array is constant."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        logger.warning(
            "Pearson correlation undefined for constant %s: Corr is nan", "predictions" if np.ptp(x) == 0 else "labels"
        )
        return float("nan")
    x_centred = x.astype(np.float64) - x.mean(dtype=np.float64)
    y_centred = y.astype(np.float64) - y.mean(dtype=np.float64)
    return float(x_centred @ y_centred / np.sqrt((x_centred @ x_centred) * (y_centred @ y_centred)))


def _validated_pair(pred: ArrayLike, label: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    pred_array, label_array = np.asarray(pred), np.asarray(label)
    if pred_array.shape != label_array.shape:
        raise ValueError(f"pred and label shapes differ: pred {pred_array.shape}, label {label_array.shape}")
    if pred_array.size == 0:
        raise ValueError(f"cannot compute metrics on empty input: pred and label have shape {pred_array.shape}")
    dtype = np.result_type(pred_array.dtype, label_array.dtype, np.float32)
    pred_values, label_values = pred_array.astype(dtype).ravel(), label_array.astype(dtype).ravel()
    for name, values in (("pred", pred_values), ("label", label_values)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(
                f"{name} holds {bad.size} non-finite value(s), e.g. {values[bad[:5]].tolist()} at {bad[:5].tolist()}"
            )
    return pred_values, label_values


def _interval_classes(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Class k holds (edges[k-1], edges[k]]: a value equal to an edge falls in the lower class."""
    return np.digitize(values, np.asarray(edges, dtype=values.dtype), right=True)


def _accuracy(pred_classes: np.ndarray, true_classes: np.ndarray) -> float:
    return float(np.mean(pred_classes == true_classes))


def _rounded_accuracy(pred: np.ndarray, label: np.ndarray, bound: float) -> float:
    return _accuracy(np.round(np.clip(pred, -bound, bound)), np.round(np.clip(label, -bound, bound)))


def _mean_absolute_error(pred: np.ndarray, label: np.ndarray) -> float:
    return float(np.mean(np.abs(pred.astype(np.float64) - label.astype(np.float64))))
