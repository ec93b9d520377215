import logging
import warnings

import numpy as np
import pytest

from kuda_pipeline.evaluation.metrics import compute_metrics, mosi_metrics, sims_metrics, weighted_f1


def test_sims_metrics_hand_computed():
    pred = [-0.8, -0.2, 0.05, 0.5, 1.5]
    label = [-1.0, 0.1, 0.0, 0.8, 0.6]
    # clipped pred [-0.8, -0.2, 0.05, 0.5, 1.0]
    # Acc-2 classes: pred [0, 0, 1, 1, 1], label [0, 1, 0, 1, 1] -> 3 of 5
    # Acc-3 classes: pred [0, 0, 1, 2, 2], label [0, 1, 1, 2, 2] -> 4 of 5
    # Acc-5 classes: pred [0, 1, 2, 3, 4], label [0, 2, 2, 4, 3] -> 2 of 5
    # F1: class 0 = 2*1/(2+2), class 1 = 2*2/(3+3); weights 2 and 3 (true counts; the predicted counts are the same)
    # MAE on clipped scores: (0.2 + 0.3 + 0.05 + 0.3 + 0.4) / 5 (unclipped would be 0.35)
    # Corr: centred x [-0.91, -0.31, -0.06, 0.39, 0.89], centred y [-1.1, 0, -0.1, 0.7, 0.5]
    metrics = sims_metrics(np.array(pred), np.array(label))

    assert metrics == pytest.approx({
        "Acc2": 0.6,
        "Acc3": 0.8,
        "Acc5": 0.4,
        "F1": (2 * 0.5 + 3 * 2 / 3) / 5,
        "F1_authors": (2 * 0.5 + 3 * 2 / 3) / 5,
        "MAE": 0.25,
        "Corr": 1.725 / np.sqrt(1.872 * 1.96),
    })


def test_mosi_metrics_hand_computed():
    pred = [-2.6, -0.4, 0.0, 1.4, 2.5, -0.6]
    label = [-3.0, 0.0, -0.5, 1.6, 3.0, 0.4]
    # Acc-7 rounds: pred [-3, -0, 0, 1, 2, -1] (2.5 -> 2, half to even), label [-3, 0, -0, 2, 3, 0] -> 3 of 6
    # Acc-5 rounds after clip to [-2, 2]: pred [-2, -0, 0, 1, 2, -1], label [-2, 0, -0, 2, 2, 0] -> 4 of 6
    # has-0 (>= 0): pred [F, F, T, T, T, F], label [F, T, F, T, T, T] -> 3 of 6
    #   F1: class F = 2*1/(3+2), class T = 2*2/(3+4); weights 2 and 4 (true), 3 and 3 (predicted: authors)
    # non-0 (label != 0 drops sample 1; > 0): pred [F, F, T, T, F], label [F, F, T, T, T] -> 4 of 5
    #   F1: class F = 2*2/(3+2), class T = 2*2/(2+3); weights 2 and 3
    # MAE unclipped: (0.4 + 0.4 + 0.5 + 0.2 + 0.5 + 1.0) / 6
    # Corr: centred x [-2.65, -0.45, -0.05, 1.35, 2.45, -0.65], centred y [-3.25, -0.25, -0.75, 1.35, 2.75, 0.15]
    metrics = mosi_metrics(np.array(pred), np.array(label))

    assert metrics == pytest.approx({
        "Acc7": 0.5,
        "Acc5": 4 / 6,
        "Acc2_has0": 0.5,
        "F1_has0": (2 * 0.4 + 4 * 4 / 7) / 6,
        "Acc2_non0": 0.8,
        "F1_non0": 0.8,
        "MAE": 0.5,
        "Corr": 17.225 / np.sqrt(15.475 * 20.595),
        "F1_has0_authors": (3 * 0.4 + 3 * 4 / 7) / 6,
        "F1_non0_authors": 0.8,
    })


def test_mosi_clips_before_rounding():
    # 3.4 and 3.0 both clip to 3 for Acc-7; 2.6 and 2.2 clip to 2 for Acc-5 but round to 3 and 2 for Acc-7.
    metrics = mosi_metrics(np.array([3.4, 2.6, -1.0]), np.array([3.0, 2.2, 1.0]))

    assert metrics["Acc7"] == pytest.approx(1 / 3)
    assert metrics["Acc5"] == pytest.approx(2 / 3)
    assert metrics["MAE"] == pytest.approx((0.4 + 0.4 + 2.0) / 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sims_edges_fall_in_the_lower_class(dtype):
    label = np.array([-0.7, -0.1, 0.0, 0.1, 0.7], dtype=dtype)
    # Interval classes are (low, high]: each edge belongs with the values just below it.
    inside = np.array([-0.75, -0.5, -0.05, 0.05, 0.5], dtype=dtype)
    across = np.array([-0.69, -0.09, 0.01, 0.11, 0.71], dtype=dtype)

    same_side = sims_metrics(inside, label)
    other_side = sims_metrics(across, label)

    assert (same_side["Acc2"], same_side["Acc3"], same_side["Acc5"]) == (1.0, 1.0, 1.0)
    # across: Acc-2 pred [0, 0, 1, 1, 1] vs label [0, 0, 0, 1, 1]; Acc-3 [0, 1, 1, 2, 2] vs [0, 0, 1, 1, 2];
    # Acc-5 [1, 2, 2, 3, 4] vs [0, 1, 2, 2, 3]
    assert other_side["Acc2"] == pytest.approx(0.8)
    assert other_side["Acc3"] == pytest.approx(0.6)
    assert other_side["Acc5"] == pytest.approx(0.2)


def test_sims_extreme_values_are_clipped_into_the_end_classes():
    metrics = sims_metrics(np.array([-5.0, 5.0, -1.0, 1.0]), np.array([-1.0, 1.0, -3.0, 2.0]))

    assert (metrics["Acc2"], metrics["Acc3"], metrics["Acc5"], metrics["MAE"]) == (1.0, 1.0, 1.0, 0.0)


def test_mosi_zero_is_non_negative_for_has0_and_excluded_for_non0():
    label = np.array([0.0, 0.0, 1.0, -1.0])
    pred = np.array([0.0, -0.1, 0.0, -1.0])
    # has-0: pred >= 0 [T, F, T, F] vs label >= 0 [T, T, T, F] -> 3 of 4
    # non-0: only samples 2 and 3; pred 0.0 is not positive -> [F, F] vs [T, F] -> 1 of 2
    # (keeping the zero-label samples would give 3 of 4)
    metrics = mosi_metrics(pred, label)

    assert metrics["Acc2_has0"] == pytest.approx(0.75)
    assert metrics["Acc2_non0"] == pytest.approx(0.5)
    assert metrics["F1_non0"] == pytest.approx((1 * 0 + 1 * 2 / 3) / 2)


def test_constant_predictions_give_nan_corr_and_the_other_metrics(caplog):
    pred = np.full(4, 0.2)
    label = np.array([-0.5, 0.3, 0.8, -0.1])

    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        metrics = sims_metrics(pred, label)

    assert np.isnan(metrics["Corr"])
    assert "constant predictions" in caplog.text
    # pred class: Acc-2 1, Acc-3 2, Acc-5 3; label classes Acc-2 [0, 1, 1, 0], Acc-3 [0, 2, 2, 0], Acc-5 [1, 3, 4, 1]
    assert metrics["Acc2"] == pytest.approx(0.5)
    assert metrics["Acc3"] == pytest.approx(0.5)
    assert metrics["Acc5"] == pytest.approx(0.25)
    assert metrics["F1"] == pytest.approx((2 * 0 + 2 * (2 * 2 / (4 + 2))) / 4)
    assert metrics["MAE"] == pytest.approx((0.7 + 0.1 + 0.6 + 0.3) / 4)


def test_all_zero_labels_give_nan_non0_and_corr(caplog):
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        metrics = mosi_metrics(np.array([0.5, -0.5, 1.0]), np.zeros(3))

    assert np.isnan(metrics["Acc2_non0"]) and np.isnan(metrics["F1_non0"]) and np.isnan(metrics["Corr"])
    assert np.isnan(metrics["F1_non0_authors"])
    assert "constant labels" in caplog.text
    assert metrics["Acc2_has0"] == pytest.approx(2 / 3)


def test_compute_metrics_dispatches_on_the_scheme():
    pred, label = np.array([0.3, -0.2, 0.9]), np.array([0.1, -0.4, 0.5])

    assert compute_metrics(pred, label, "sims") == sims_metrics(pred, label)
    assert compute_metrics(pred, label, "mosi") == mosi_metrics(pred, label)
    with pytest.raises(ValueError, match=r"unknown metric scheme 'mosei'; valid schemes: \['mosi', 'sims'\]"):
        compute_metrics(pred, label, "mosei")


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="empty input"):
        sims_metrics(np.array([]), np.array([]))
    with pytest.raises(ValueError, match=r"pred \(3,\), label \(3, 1\)"):
        mosi_metrics(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"pred holds 1 non-finite value\(s\), e.g. \[nan\] at \[1\]"):
        sims_metrics(np.array([0.1, np.nan]), np.array([0.1, 0.2]))


def test_weighted_f1_matches_sklearn_on_random_classes():
    f1_score = pytest.importorskip("sklearn.metrics").f1_score
    rng = np.random.default_rng(0)
    true_classes = rng.integers(0, 5, size=200)
    pred_classes = np.where(rng.random(200) < 0.6, true_classes, rng.integers(0, 4, size=200))

    assert weighted_f1(pred_classes, true_classes) == pytest.approx(
        f1_score(true_classes, pred_classes, average="weighted")
    )


def test_the_two_f1_conventions_differ_on_biased_predictions():
    pred = np.array([0.3, 0.2, 0.9, 0.5, 0.1, -0.4])  # Acc-2 classes [1, 1, 1, 1, 1, 0]: biased to positive
    label = np.array([-0.5, 0.4, 0.8, -0.2, 0.6, -0.9])  # [0, 1, 1, 0, 1, 0]
    # class 0: TP 1, 1 predicted, 3 true -> F1 2*1/(1+3) = 0.5; class 1: TP 3, 5 predicted, 3 true -> 2*3/(5+3) = 0.75
    # MMSA weights by the true counts (3, 3); the authors' code by the predicted counts (1, 5)
    metrics = sims_metrics(pred, label)
    assert metrics["F1"] == pytest.approx((3 * 0.5 + 3 * 0.75) / 6)
    assert metrics["F1_authors"] == pytest.approx((1 * 0.5 + 5 * 0.75) / 6)
    f1_score = pytest.importorskip("sklearn.metrics").f1_score
    pred_classes, true_classes = (pred > 0).astype(int), (label > 0).astype(int)
    assert metrics["F1"] == pytest.approx(f1_score(true_classes, pred_classes, average="weighted"))
    assert metrics["F1_authors"] == pytest.approx(f1_score(pred_classes, true_classes, average="weighted"))
