"""The paper-vs-ours report: the paper's KuDA row beside our metrics, F1 in the authors' convention first."""

import json
from importlib import resources

from kuda_pipeline.evaluation.paper_comparison import paper_comparison_report

PAPER = json.loads(resources.files("kuda_pipeline.experiments").joinpath("paper_results.json").read_text())
SIMS = {"kuda": {"MAE": 0.4123, "Corr": 0.6, "Acc5": 0.4, "Acc3": 0.65, "Acc2": 0.8, "F1": 0.79, "F1_authors": 0.81},
        "train_mean_baseline": {"MAE": 0.6, "Corr": float("nan"), "Acc5": 0.2, "Acc3": 0.5, "Acc2": 0.7, "F1": 0.58,
                                "F1_authors": 0.82}}
MOSI = {"kuda": {"MAE": 0.7, "Corr": 0.8, "Acc7": 0.47, "Acc2_has0": 0.84, "Acc2_non0": 0.86, "F1_has0": 0.83,
                 "F1_non0": 0.85, "F1_has0_authors": 0.841, "F1_non0_authors": 0.862}}


def table(report: str, dataset: str) -> dict[str, list[str]]:
    section = report.split(f"## {dataset}\n")[1].strip().split("\n\n")[0]
    rows = [line.strip("|").split("|") for line in section.splitlines()[2:]]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


def test_each_metric_sits_beside_the_papers_in_the_papers_units():
    report = paper_comparison_report(PAPER, {"sims": SIMS, "mosi": MOSI})

    sims = table(report, "sims")
    assert sims["MAE"] == ["0.408", "0.412", "0.600"]
    assert sims["Corr"] == ["0.613", "0.600", "—"]
    assert sims["Acc5"] == ["43.54", "40.00", "20.00"]
    assert sims["F1"] == ["80.71", "81.00", "82.00"], "the authors' convention beside the paper's F1"
    assert sims["F1, MMSA convention"] == ["—", "79.00", "58.00"]
    mosi = table(report, "mosi")
    assert mosi["Acc2 (has0)"] == ["84.40", "84.00", "—"] and mosi["Acc2 (non0)"] == ["86.43", "86.00", "—"]
    assert mosi["F1 (non0)"] == ["86.46", "86.20", "—"]
    assert mosi["F1 (has0), MMSA convention"] == ["—", "83.00", "—"]
    assert "authors' convention" in report
