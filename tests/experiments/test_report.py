"""The Markdown report: every row of each paper table beside our mean ± std."""

import pandas as pd

from kuda_pipeline.experiments import load_paper_results, parse_variants, plan_grid, render_report

PAPER = load_paper_results()
VARIANTS = parse_variants({name: {} for name in ("KuDA", "w/o DAF", "Concatenation", "alpha=1")})


def _grid(dataset: str, counterparts: dict):
    experiments = {"name": "reduced", "grid": [{"dataset": dataset, "variants": list(VARIANTS), "seeds": [0, 1]}],
                   "training": {"epochs": 1}, "figures": {"dataset": dataset, "variant": "KuDA", "seed": 0},
                   "report": {"counterparts": counterparts}}
    return plan_grid(experiments, VARIANTS, [dataset])


def _summary(dataset: str, metrics: dict[str, float]) -> pd.DataFrame:
    rows = [("reduced", dataset, variant, metric, value + 0.01 * i, 0.02, 2)
            for i, variant in enumerate(VARIANTS) for metric, value in metrics.items()]
    rows.append(("reduced", dataset, "w/o DAF", "Acc5", 0.5, float("nan"), 1))
    return pd.DataFrame(rows, columns=["grid", "dataset", "variant", "metric", "mean", "std", "n"])


SIMS_METRICS = {"MAE": 0.41, "Corr": 0.6, "Acc2": 0.8, "Acc3": 0.66, "Acc5": 0.43, "F1": 0.8, "F1_authors": 0.75}


def test_report_sets_every_paper_table_of_the_counterparts_beside_ours():
    summary = _summary("synthetic_sims", SIMS_METRICS)
    summary = summary[~((summary["variant"] == "w/o DAF") & (summary["metric"] == "Acc5") & (summary["n"] == 2))]
    report = render_report(_grid("synthetic_sims", {"synthetic_sims": ["sims", "simsv2"]}), summary, PAPER)
    for title in ("Main results (Tables 3-4), sims", "Main results (Tables 3-4), simsv2", "Ablations (Table 5), simsv2",
                  "Modality removal (Table 6), simsv2", "Fusion methods (Table 7), simsv2"):
        assert f"### {title}" in report
    assert "**Our numbers are on the synthetic corpus `synthetic_sims`**" in report
    assert "1 stage-2 epoch(s) (paper: 50)" in report
    assert "| KuDA | 0.408 | 0.410 ± 0.020 | 0.613 | 0.600 ± 0.020 | 43.54 | 43.00 ± 2.00 |" in report
    assert "| TETFN | 0.420 |  | 0.577 |  |" in report
    assert "| Acc2 paper | Acc2 ours | F1 paper | F1_authors ours |" in report  # the authors' F1 beside the paper's
    assert "| 80.74 | 80.00 ± 2.00 | 80.71 | 75.00 ± 2.00 |" in report
    assert "Our F1 beside the paper's is the authors' convention, f1_score(pred, true" in report
    assert "| w/o DAF | 0.309 | 0.420 ± 0.020 | 0.716 | 0.610 ± 0.020 | 54.06 | 50.00 (1 seed) |" in report
    assert "| w/o KIP | 0.288 | not run | 0.729 | not run | 56.87 | not run |" in report
    assert "| T+V+A (ours: KuDA) | 0.271 | 0.410 ± 0.020 |" in report
    assert "| V+A | 0.362 | not run |" in report
    assert "| Concatenation | 0.296 | 0.430 ± 0.020 | 0.728 | 0.620 ± 0.020 | 79.98 | 82.00 ± 2.00 |" in report
    assert "| Addition (ours: w/o DAF) | 0.304 | 0.420 ± 0.020 |" in report  # the same model
    assert "| Tensor Fusion (TFN) | 0.282 | not run |" in report
    assert "| KuDA DAF (ours: KuDA) | 0.271 | 0.410 ± 0.020 |" in report
    assert "### Variants without a paper table (ours only)" in report
    assert "| alpha=1 | 0.440 ± 0.020 | 0.630 ± 0.020 |" in report


def test_report_of_a_mosi_like_dataset_splits_acc2_and_f1_into_has0_and_non0():
    metrics = {"MAE": 0.7, "Corr": 0.79, "Acc7": 0.47, "Acc2_has0": 0.84, "Acc2_non0": 0.86, "F1_has0": 0.84,
               "F1_non0": 0.86, "F1_has0_authors": 0.83, "F1_non0_authors": 0.85}
    report = render_report(_grid("synthetic_mosi", {"synthetic_mosi": ["mosi"]}), _summary("synthetic_mosi", metrics),
                           PAPER)
    assert "| row | MAE paper | MAE ours | Corr paper | Corr ours | Acc7 paper | Acc7 ours | Acc2_has0 paper |" in (
        report)
    assert "| KuDA | 0.705 | 0.700 ± 0.020 | 0.795 | 0.790 ± 0.020 | 47.08 | 47.00 ± 2.00 | 84.40 | 84.00 ± 2.00 |" in (
        report)
    assert "| F1_has0 paper | F1_has0_authors ours | F1_non0 paper | F1_non0_authors ours |" in report
    assert "| 84.48 | 83.00 ± 2.00 | 86.46 | 85.00 ± 2.00 |" in report
    assert "### Ablations (Table 5), mosi" in report and "Fusion methods (Table 7)" not in report


def test_report_on_a_paper_dataset_says_so():
    summary = _summary("simsv2", SIMS_METRICS)
    report = render_report(_grid("simsv2", {}), summary, PAPER)
    assert "Our numbers are on `simsv2` itself." in report and "synthetic" not in report
    assert "### Main results (Tables 3-4), simsv2" in report


def test_report_gives_confidence_intervals_and_paired_p_values_against_kuda():
    from kuda_pipeline.experiments import summarise

    values = {("KuDA", 0): 0.40, ("KuDA", 1): 0.50, ("KuDA", 2): 0.60,
              ("w/o DAF", 0): 0.50, ("w/o DAF", 1): 0.70, ("w/o DAF", 2): 0.60}
    results = pd.DataFrame([("reduced", "synthetic_sims", variant, seed, "MAE", value)
                            for (variant, seed), value in values.items()],
                           columns=["grid", "dataset", "variant", "seed", "metric", "value"])
    report = render_report(_grid("synthetic_sims", {"synthetic_sims": ["sims"]}), summarise(results), PAPER)
    assert "### Over seeds: 95 % confidence intervals and paired t-tests against KuDA" in report
    # KuDA: 0.5 ± 0.1, CI 0.5 ± 4.3027 · 0.1 / √3; w/o DAF: Δ +0.1, t = √3 on 2 df, p = 1 − √3/√5 = 0.225
    assert "| KuDA | MAE | 0.500 ± 0.100 (3) | [0.252, 0.748] |  |  |" in report
    assert "| w/o DAF | MAE | 0.600 ± 0.100 (3) | [0.352, 0.848] | +0.100 | 0.225 (n=3) |" in report
