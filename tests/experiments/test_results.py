"""The tidy results table, mean ± std over seeds, and the per-cell tracking records, on hand-made numbers."""

import math

import pandas as pd
import pytest

from kuda_pipeline.experiments import CellResult, results_table, summarise, tracking_records


def _cell(variant: str, seed: int, mae: float, corr: float, overrides: dict | None = None) -> CellResult:
    return CellResult(key=f"{variant}{seed}", dataset="d", variant=variant, seed=seed,
                      overrides={"architecture": overrides or {}, "use_knowledge": True}, settings={},
                      test_metrics={"MAE": mae, "Corr": corr}, valid_metrics={"MAE": mae + 0.1}, best_epoch=2,
                      seconds=3.5)


CELLS = [_cell("KuDA", 0, 0.4, 0.6), _cell("KuDA", 1, 0.5, 0.7), _cell("KuDA", 2, 0.6, 0.8),
         _cell("w/o DAF", 0, 0.7, math.nan, {"fusion": "add"})]


def test_results_table_has_one_row_per_cell_and_metric():
    table = results_table("g", CELLS)
    assert list(table.columns) == ["grid", "dataset", "variant", "seed", "metric", "value"]
    assert table.shape == (8, 6)
    assert table.iloc[1].tolist() == ["g", "d", "KuDA", 0, "Corr", 0.6]
    assert str(table["seed"].dtype) == "int64" and str(table["value"].dtype) == "float64"


def test_summary_is_mean_and_sample_std_over_seeds():
    summary = summarise(results_table("g", CELLS)).set_index(["variant", "metric"])
    assert list(summary.columns) == ["grid", "dataset", "mean", "std", "n", "ci95_low", "ci95_high", "reference",
                                     "diff_vs_reference", "p_paired", "n_paired"]
    assert summary.loc[("KuDA", "MAE"), "mean"] == pytest.approx(0.5)
    assert summary.loc[("KuDA", "MAE"), "std"] == pytest.approx(0.1)  # sample std of 0.4, 0.5, 0.6
    assert summary.loc[("KuDA", "Corr"), "mean"] == pytest.approx(0.7)
    assert summary.loc[("KuDA", "Corr"), "n"] == 3
    assert summary.loc[("w/o DAF", "MAE"), "n"] == 1 and math.isnan(summary.loc[("w/o DAF", "MAE"), "std"])
    assert list(summary.index.get_level_values("variant").unique()) == ["KuDA", "w/o DAF"]


def test_summary_has_t_confidence_intervals_and_paired_tests_against_kuda():
    cells = CELLS[:3] + [_cell("w/o SR", 0, 0.5, 0.6), _cell("w/o SR", 1, 0.7, 0.7), _cell("w/o SR", 2, 0.6, 0.8)]
    summary = summarise(results_table("g", cells)).set_index(["variant", "metric"])
    kuda = summary.loc[("KuDA", "MAE")]
    half_width = 4.302653 * 0.1 / math.sqrt(3)  # t_{0.975, 2} * s / sqrt(n)
    assert (kuda["ci95_low"], kuda["ci95_high"]) == (pytest.approx(0.5 - half_width), pytest.approx(0.5 + half_width))
    assert math.isnan(kuda["p_paired"]) and kuda["n_paired"] == 0 and kuda["reference"] == "KuDA"
    ablated = summary.loc[("w/o SR", "MAE")]
    # differences 0.1, 0.2, 0.0: t = 0.1 / (0.1 / sqrt 3) = sqrt 3 with 2 degrees of freedom, p = 1 - t / sqrt(t² + 2)
    assert ablated["diff_vs_reference"] == pytest.approx(0.1) and ablated["n_paired"] == 3
    assert ablated["p_paired"] == pytest.approx(1 - math.sqrt(3) / math.sqrt(5))
    same = summary.loc[("w/o SR", "Corr")]  # every difference 0: nothing to test
    assert same["diff_vs_reference"] == pytest.approx(0.0) and math.isnan(same["p_paired"])


def test_summary_refuses_a_table_without_the_tidy_columns():
    with pytest.raises(ValueError, match=r"results table lacks column\(s\) \['metric', 'seed'\]"):
        summarise(pd.DataFrame({"grid": [], "dataset": [], "variant": [], "value": []}))


def test_tracking_records_carry_params_and_finite_metrics_only():
    record = tracking_records("g", CELLS[3:])[0]
    assert record["grid"] == "g" and record["run_name"] == "d | w/o DAF | seed 0"
    assert record["params"] == {"dataset": "d", "variant": "w/o DAF", "seed": 0, "cell_key": "w/o DAF0",
                                "use_knowledge": True, "override.fusion": "add"}
    assert record["metrics"] == {"test.MAE": 0.7, "valid.MAE": pytest.approx(0.8), "best_epoch": 2.0,
                                 "seconds": 3.5}
