"""The Markdown report: each table of the paper beside our mean ± std over seeds for the same rows.

Paper values come from ``paper_results.json`` (accuracies and F1 in percent, MAE and Corr as fractions); ours
from the summary table (fractions), shown in the paper's units. Beside the paper's F1 columns stands our F1 in the
authors' convention (``F1_authors``, ``F1_has0_authors``, ...: ``f1_score(pred, true)``), which the paper's numbers
most likely follow (docs/fidelity.md); MMSA's ``F1`` is in the results table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pandas as pd

from kuda_pipeline.experiments.grid import GridSpec

NOT_RUN = "not run"
PAPER_STAGE2_EPOCHS = 50
# Tables 5 and 6 print three metrics, the third depending on the dataset
SHORT_COLUMNS = {"simsv2": ("MAE", "Corr", "Acc5"), "mosi": ("MAE", "Corr", "Acc7")}
TABLE7_COLUMNS = ("MAE", "Corr", "Acc2", "Acc3", "Acc5", "F1")
TWO_WAY_SUFFIXES = ("has0", "non0")  # MOSI/MOSEI Acc-2 and F1 are printed as [has-0, non-0]
AUTHORS_SUFFIX = "_authors"  # our metric set beside a paper F1 column: F1 -> F1_authors, F1_has0 -> F1_has0_authors
# paper row -> our variants that stand for it, first one present wins
# (the same model under another name counts: "w/o DAF" is addition fusion, "w/o CE" is alpha = 0)
TABLE5_ROWS = {"KuDA": ("KuDA",), "w/o KIP": ("w/o KIP",), "w/o Adapter": ("w/o Adapter",),
               "w/o EKI": ("w/o EKI",), "w/o SR": ("w/o SR",), "w/o DAF": ("w/o DAF", "Addition"),
               "w/o CE Loss": ("w/o CE", "alpha=0")}
TABLE6_ROWS = {"V+A": ("V+A",), "T+V": ("T+V",), "T+A": ("T+A",), "T+V+A": ("T+V+A", "KuDA")}
TABLE7_ROWS = {"Concatenation": ("Concatenation",), "Addition": ("Addition", "w/o DAF"),
               "Tensor Fusion (TFN)": ("TFN",), "Low-rank Fusion (LMF)": ("LMF",), "CMT (BBFN, ALMT)": ("CMT",),
               "KuDA DAF": ("DAF", "KuDA")}


@dataclass(frozen=True)
class ComparisonTable:
    """One paper table for one dataset: per row the paper's values and the variants of ours that stand for it."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, Mapping[str, float], tuple[str, ...]], ...]  # (paper row, metric -> value, our variants)


def load_paper_results() -> dict[str, Any]:
    """The paper's numbers shipped with the package (outside a Kedro run; the pipeline reads them from the catalog)."""
    return json.loads(resources.files(__package__).joinpath("paper_results.json").read_text())


def paper_tables(paper: Mapping[str, Any], counterpart: str) -> list[ComparisonTable]:
    """Tables 3/4 (main results), 5 (ablations), 6 (modality removal) and 7 (fusion methods) the paper prints for
    ``counterpart`` (a paper dataset), in that order; tables without that dataset are left out."""
    tables = []
    main = paper["main_results"].get(counterpart)
    if main:
        columns = tuple(_flatten(main["KuDA"]))
        rows = tuple((model, _flatten(values), ("KuDA",) if model == "KuDA" else ()) for model, values in main.items())
        tables.append(ComparisonTable(f"Main results (Tables 3-4), {counterpart}", columns, rows))
    for title, section, mapping in (
        ("Ablations (Table 5)", paper["ablation_table5"], TABLE5_ROWS),
        ("Modality removal (Table 6)", paper["modality_removal_table6_kuda"], TABLE6_ROWS),
    ):
        if counterpart in section:
            columns = SHORT_COLUMNS[counterpart]
            rows = tuple((row, dict(zip(columns, values, strict=True)), mapping[row])
                         for row, values in section[counterpart].items())
            tables.append(ComparisonTable(f"{title}, {counterpart}", columns, rows))
    if counterpart == "simsv2":
        fusion = {row: values for row, values in paper["fusion_methods_table7_simsv2"].items()
                  if not row.startswith("_")}
        rows = tuple((row, dict(zip(TABLE7_COLUMNS, values, strict=True)), TABLE7_ROWS[row])
                     for row, values in fusion.items())
        tables.append(ComparisonTable(f"Fusion methods (Table 7), {counterpart}", TABLE7_COLUMNS, rows))
    return tables


def render_report(grid: GridSpec, summary: pd.DataFrame, paper: Mapping[str, Any]) -> str:
    """Markdown: per dataset of the grid, each paper table of its counterparts with our values beside, then our
    variants that no paper table covers (e.g. the Figure 5 alpha sweep)."""
    lines = [f"# KuDA experiments: grid `{grid.name}`", ""]
    for dataset in dict.fromkeys(cell.dataset for cell in grid.cells):
        ours = summary[summary["dataset"] == dataset]
        counterparts = [name for name in grid.counterparts_of(dataset) if name in paper["datasets"]]
        lines += [f"## {dataset}", "", _provenance(dataset, counterparts, grid, ours, paper), ""]
        covered: set[str] = set()
        for counterpart in counterparts:
            for table in paper_tables(paper, counterpart):
                lines += _render_table(table, ours, covered)
        rest = [variant for variant in dict.fromkeys(ours["variant"]) if variant not in covered]
        if rest:
            lines += _render_ours_only(rest, ours)
        lines += _render_statistics(ours)
    return "\n".join(lines)


def _flatten(values: Mapping[str, Any]) -> dict[str, float]:
    flat = {}
    for metric, value in values.items():
        if isinstance(value, Sequence):
            flat.update({f"{metric}_{suffix}": v for suffix, v in zip(TWO_WAY_SUFFIXES, value, strict=True)})
        else:
            flat[metric] = value
    return flat


def _provenance(dataset: str, counterparts: list[str], grid: GridSpec, ours: pd.DataFrame,
                paper: Mapping[str, Any]) -> str:
    seeds = sorted(set(ours["n"].tolist())) or [0]
    span = str(seeds[0]) if seeds[0] == seeds[-1] else f"{seeds[0]}-{seeds[-1]}"
    epochs = grid.training.get("epochs", "the dataset's configured number of")
    beside = ", ".join(counterparts) or "no dataset of the paper"
    if dataset in paper["datasets"]:
        source = f"Our numbers are on `{dataset}` itself."
    else:
        source = (f"**Our numbers are on the synthetic corpus `{dataset}`**, generated by this project as a stand-in "
                  f"for {beside}: they show that each variant trains and how variants compare here, not the "
                  "paper's values, which they are not expected to match.")
    return (f"{source} Paper: {beside}. Ours: mean ± sample std over {span} seed(s), "
            f"{epochs} stage-2 epoch(s) (paper: {PAPER_STAGE2_EPOCHS}). Acc and F1 in %, MAE and Corr as fractions. "
            "Our F1 beside the paper's is the authors' convention, f1_score(pred, true, average='weighted') "
            "(F1_authors); MMSA's f1_score(true, pred) is F1 in the results table.")


def _render_table(table: ComparisonTable, ours: pd.DataFrame, covered: set[str]) -> list[str]:
    header = ["row", *(cell for column in table.columns for cell in (f"{column} paper", f"{_our_metric(column)} ours"))]
    lines = [f"### {table.title}", "", _markdown_row(header), _markdown_row(["---"] * len(header))]
    for row, paper_values, candidates in table.rows:
        variant = next((name for name in candidates if (ours["variant"] == name).any()), None)
        label = row if variant in (None, row) else f"{row} (ours: {variant})"
        cells = [label]
        for column in table.columns:
            cells.append(_format(column, paper_values.get(column)))
            cells.append(_ours(ours, variant, _our_metric(column)) if variant else NOT_RUN if candidates else "")
        lines.append(_markdown_row(cells))
        covered.update([variant] if variant else [])
    return [*lines, ""]


def _our_metric(column: str) -> str:
    """Our metric beside the paper's `column`: the authors' F1 convention for an F1 column, else the same name."""
    return f"{column}{AUTHORS_SUFFIX}" if column.startswith("F1") else column


def _render_ours_only(variants: list[str], ours: pd.DataFrame) -> list[str]:
    metrics = list(dict.fromkeys(ours["metric"]))
    lines = ["### Variants without a paper table (ours only)", "", _markdown_row(["variant", *metrics]),
             _markdown_row(["---"] * (len(metrics) + 1))]
    lines += [_markdown_row([variant, *(_ours(ours, variant, metric) for metric in metrics)]) for variant in variants]
    return [*lines, ""]


def _render_statistics(ours: pd.DataFrame) -> list[str]:
    """Per variant and metric: mean ± std over seeds, the 95 % t confidence interval, and the mean difference to
    the reference variant with the paired t-test's two-sided p-value over the seeds both ran."""
    if ours.empty or "p_paired" not in ours:
        return []
    reference = ours["reference"].iloc[0]
    header = ["variant", "metric", "mean ± std (seeds)", "95 % CI", f"Δ vs {reference}", "p (paired t)"]
    lines = [f"### Over seeds: 95 % confidence intervals and paired t-tests against {reference}", "",
             "CI: mean ± t(0.975, n−1)·s/√n. Δ and p: the variant minus the reference on the same seeds; p is the "
             "two-sided p-value of the paired t-test (scipy `ttest_rel`; blank below 2 pairs).", "",
             _markdown_row(header), _markdown_row(["---"] * len(header))]
    for row in ours.itertuples(index=False):
        scale = 100.0 if _is_percent(row.metric) else 1.0
        interval = ("" if math.isnan(row.ci95_low)
                    else f"[{_format(row.metric, row.ci95_low * scale)}, {_format(row.metric, row.ci95_high * scale)}]")
        difference = "" if math.isnan(row.diff_vs_reference) else f"{row.diff_vs_reference * scale:+.3f}"
        p_value = "" if math.isnan(row.p_paired) else f"{row.p_paired:.3g} (n={row.n_paired})"
        lines.append(_markdown_row([row.variant, row.metric, f"{_ours(ours, row.variant, row.metric)} ({row.n})",
                                    interval, difference, p_value]))
    return [*lines, ""]


def _ours(ours: pd.DataFrame, variant: str, metric: str) -> str:
    match = ours[(ours["variant"] == variant) & (ours["metric"] == metric)]
    if match.empty:
        return "n/a"
    row = match.iloc[0]
    scale = 100.0 if _is_percent(metric) else 1.0
    mean = _format(metric, row["mean"] * scale)
    return f"{mean} ± {_format(metric, row['std'] * scale)}" if row["n"] > 1 else f"{mean} (1 seed)"


def _format(metric: str, value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "nan"
    return f"{value:.2f}" if _is_percent(metric) else f"{value:.3f}"


def _is_percent(metric: str) -> bool:
    return metric.startswith(("Acc", "F1"))


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
