"""Our test metrics beside the paper's main results (the KuDA rows of Tables 3 and 4), one table per dataset.

The paper's F1 was computed by the authors' code, so it is set beside ours in their convention
(``F1*_authors``: ``f1_score(pred, true)``); MMSA's F1 (``f1_score(true, pred)``) follows on its own row.
For MOSI/MOSEI, Acc-2 and F1 are printed as has-0 / non-0 pairs. Accuracies and F1 in percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

PAPER_ROW = "KuDA"
PERCENT_PREFIXES = ("Acc", "F1")
TWO_WAY_SUFFIXES = ("has0", "non0")


def _shown(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.2f}" if name.startswith(PERCENT_PREFIXES) else f"{value:.3f}"


def _rows(paper: Mapping[str, Any], ours: Mapping[str, float], baseline: Mapping[str, float]) -> list[str]:
    rows = []
    for name, paper_value in paper.items():
        pairs = (zip(TWO_WAY_SUFFIXES, paper_value, strict=True) if isinstance(paper_value, list)
                 else [(None, paper_value)])
        for suffix, value in pairs:
            key = f"{name}_{suffix}" if suffix else name
            ours_key = f"{key}_authors" if name == "F1" else key
            label = f"{name} ({suffix})" if suffix else name
            paper_shown = f"{value:.2f}" if name.startswith(PERCENT_PREFIXES) else f"{value:.3f}"
            rows.append(f"| {label} | {paper_shown} | {_shown(name, ours.get(ours_key))} | "
                        f"{_shown(name, baseline.get(ours_key))} |")
            if name == "F1":
                rows.append(f"| {label}, MMSA convention | — | {_shown(name, ours.get(key))} | "
                            f"{_shown(name, baseline.get(key))} |")
    return rows


def paper_comparison_report(paper_results: Mapping[str, Any], test_metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown: per dataset (``test_metrics`` maps dataset → the evaluation's metrics), paper vs ours."""
    lines = ["# KuDA: the paper's main results beside this run (test split)", "",
             "Paper: Tables 3-4, KuDA rows. F1 beside the paper's is the authors' convention (f1_score(pred, true)); "
             "the MMSA convention follows. Accuracies and F1 in percent.", ""]
    for dataset, metrics in test_metrics.items():
        paper = paper_results["main_results"][dataset][PAPER_ROW]
        lines += [f"## {dataset}", "", "| metric | paper | ours | train-mean baseline |", "|---|---|---|---|",
                  *_rows(paper, metrics["kuda"], metrics.get("train_mean_baseline", {})), ""]
    return "\n".join(lines)
