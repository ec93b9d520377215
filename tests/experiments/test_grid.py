"""Variants and grid validation: error messages name the offending entry and list the known names."""

from pathlib import Path

import pytest
import yaml

from kuda_pipeline.experiments import parse_variants, plan_grid
from kuda_pipeline.experiments.variants import merge_overrides

VARIANTS = parse_variants({"KuDA": {}, "w/o SR": {"architecture": {"use_sentiment_ratio": False}},
                           "w/o KIP": {"use_knowledge": False}})
PARAMETERS = Path(__file__).parents[2] / "conf" / "base" / "parameters_experiments.yml"
FIGURES = {"dataset": "sims_like", "variant": "KuDA", "seed": 0}


def _grid(**changes) -> dict:
    return {"name": "g", "grid": [{"dataset": "sims_like", "variants": ["KuDA", "w/o SR"], "seeds": [0, 1]}],
            "figures": FIGURES, **changes}


def test_grid_cells_in_declaration_order_with_the_probe_on_the_figure_cell_only():
    grid = plan_grid(_grid(training={"epochs": 2}), VARIANTS, ["sims_like", "mosi_like"])
    assert [(c.dataset, c.variant.name, c.seed) for c in grid.cells] == [
        ("sims_like", "KuDA", 0), ("sims_like", "KuDA", 1), ("sims_like", "w/o SR", 0), ("sims_like", "w/o SR", 1)]
    assert [c.probe for c in grid.cells] == [True, False, False, False]
    assert grid.training == {"epochs": 2}
    assert grid.cells_of("mosi_like") == []
    assert grid.counterparts_of("sims_like") == ("sims_like",)


def test_repeated_cells_are_planned_once():
    entries = [{"dataset": "sims_like", "variants": ["KuDA"], "seeds": [0]},
               {"dataset": "sims_like", "variants": ["KuDA", "w/o KIP"], "seeds": [0]}]
    grid = plan_grid(_grid(grid=entries), VARIANTS, ["sims_like"])
    assert [(c.variant.name, c.seed) for c in grid.cells] == [("KuDA", 0), ("w/o KIP", 0)]
    assert grid.cells[1].variant.use_knowledge is False


def test_unknown_variant_lists_the_known_ones():
    entries = [{"dataset": "sims_like", "variants": ["KuDA", "w/o XYZ"], "seeds": [0]}]
    with pytest.raises(ValueError, match=r"grid\[0\]: unknown variant\(s\) \['w/o XYZ'\]; known variants: "
                                         r"\['KuDA', 'w/o SR', 'w/o KIP'\]"):
        plan_grid(_grid(grid=entries), VARIANTS, ["sims_like"])


def test_unknown_dataset_lists_the_known_ones():
    entries = [{"dataset": "mosei", "variants": ["KuDA"], "seeds": [0]}]
    with pytest.raises(ValueError, match=r"unknown dataset 'mosei'; known datasets: \['sims_like', 'mosi_like'\]"):
        plan_grid(_grid(grid=entries), VARIANTS, ["sims_like", "mosi_like"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid": []}, r"experiments.grid must be a non-empty list"),
        ({"grid": [{"dataset": "sims_like", "variants": ["KuDA"], "seeds": [-1]}]}, r"seeds must be .* got \[-1\]"),
        ({"grid": [{"dataset": "sims_like", "variants": ["KuDA"]}]}, r"missing field\(s\) \['seeds'\]"),
        ({"training": {"seed": 3}}, r"unknown or not overridable field\(s\) \['seed'\]"),
        ({"figures": {**FIGURES, "seed": 7}}, r"figures names the cell \(sims_like, KuDA, seed 7\), which is not"),
        ({"figures": {**FIGURES, "embedding": "umap"}}, r"embedding must be one of \('tsne', 'pca'\), got 'umap'"),
        ({"extra": 1}, r"experiments: unknown field\(s\) \['extra'\]"),
        ({"name": ""}, r"experiments.name must be a non-empty string"),
    ],
)
def test_invalid_grids_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        plan_grid(_grid(**changes), VARIANTS, ["sims_like"])


def test_invalid_variants_are_refused():
    with pytest.raises(ValueError, match=r"variant 'x': unknown field\(s\) \['fusion'\]"):
        parse_variants({"x": {"fusion": "add"}})
    with pytest.raises(ValueError, match=r"variant 'x': architecture must be a mapping and use_knowledge true/false"):
        parse_variants({"x": {"use_knowledge": "no"}})


def test_overrides_merge_nested_mappings_key_by_key():
    base = {"alpha": 0.01, "vision_encoder": {"hidden_size": 64, "num_layers": 2}}
    merged = merge_overrides(base, {"vision_encoder": {"num_layers": 4}, "modalities": ["t", "v"]})
    assert merged == {"alpha": 0.01, "vision_encoder": {"hidden_size": 64, "num_layers": 4}, "modalities": ["t", "v"]}
    assert base["vision_encoder"]["num_layers"] == 2


def test_the_shipped_parameters_plan_the_reduced_grid():
    parameters = yaml.safe_load(PARAMETERS.read_text())
    variants = parse_variants(parameters["experiment_variants"])
    grid = plan_grid(parameters["experiments"], variants, ["synthetic_sims", "synthetic_mosi"])
    assert [(c.variant.name, c.seed) for c in grid.cells] == [
        ("KuDA", 0), ("KuDA", 1), ("w/o DAF", 0), ("w/o DAF", 1), ("Concatenation", 0), ("Concatenation", 1)]
    assert grid.counterparts_of("synthetic_sims") == ("sims", "simsv2")
    assert {"w/o KIP", "w/o Adapter", "w/o EKI", "w/o CE", "T+V", "V+A", "TFN", "LMF", "CMT", "alpha=1e-3"} <= set(
        variants)
