"""The experiments pipeline on an in-memory catalog: a one-cell grid, then a rerun that trains nothing."""

from __future__ import annotations

import pandas as pd
from conftest import EVALUATION
from tiny_models import ARCHITECTURE, TRAIN
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from kuda_pipeline.experiments import load_paper_results
from kuda_pipeline.pipelines import experiments

EXPERIMENTS = {
    "name": "one_cell",
    "grid": [{"dataset": "tiny", "variants": ["KuDA"], "seeds": [0]}],
    "training": {"epochs": 1},
    "figures": {"dataset": "tiny", "variant": "KuDA", "seed": 0, "embedding": "tsne", "cases": 2},
    "report": {"counterparts": {"tiny": ["sims", "simsv2"]}},
    "ray": {"enabled": False},  # one cell: in this process (tests/experiments/test_ray_cells.py runs cells on Ray)
}
VARIANTS = {"KuDA": {}, "w/o SR": {"architecture": {"use_sentiment_ratio": False}}}


def _run(datasets: dict) -> dict:
    catalog = DataCatalog({name: MemoryDataset(value, copy_mode="assign") for name, value in datasets.items()})
    outputs = SequentialRunner().run(experiments.create_pipeline(datasets=["tiny"]), catalog)
    return {name: dataset.load() for name, dataset in outputs.items()}


def test_a_one_cell_grid_runs_end_to_end_and_is_not_trained_again(tiny_arrays, tiny_knowledge, tiny_bert_dir):
    datasets = {
        "params:experiments": EXPERIMENTS,
        "params:experiment_variants": VARIANTS,
        "params:tiny.text_encoder": tiny_bert_dir,
        "params:tiny.model": {"scheme": "sims", "architecture": ARCHITECTURE},
        "params:tiny.fusion_training": {"checkpoint_dir": None, "train": TRAIN},
        "params:tiny.evaluation": EVALUATION,
        "tiny.split_arrays": tiny_arrays,
        **{f"tiny.knowledge_{m}": state for m, state in tiny_knowledge.items()},
        "tiny.experiment_cells_finished": {},
        "paper_results": load_paper_results(),
    }
    first = _run(datasets)

    (key,) = first["tiny.experiment_cells"]
    assert first["tiny.experiment_cells"][key]["probe"] is not None
    (tracked,) = first["tiny.experiment_cell_runs"]
    assert tracked["grid"] == "one_cell" and tracked["params"]["cell_key"] == key
    assert tracked["tags"] == {"grid": "one_cell", "dataset": "tiny", "variant": "KuDA", "seed": "0", "trial": key,
                               "cell_key": key}
    results = first["experiment_results"]
    assert results.shape == (7, 6) and set(results["metric"]) == {"Acc2", "Acc3", "Acc5", "F1", "F1_authors", "MAE",
                                                                   "Corr"}
    assert (results[["grid", "dataset", "variant", "seed"]].drop_duplicates().values.tolist()
            == [["one_cell", "tiny", "KuDA", 0]])
    assert "| KuDA | 0.408 |" in first["experiment_report"] and "(1 seed)" in first["experiment_report"]
    assert isinstance(first["experiment_representations_figure"], Figure)
    assert isinstance(first["experiment_cases_figure"], Figure)

    second = _run({**datasets, "tiny.experiment_cells_finished": first["tiny.experiment_cells"]})
    assert second["tiny.experiment_cells"] == {} and second["tiny.experiment_cell_runs"] == []
    pd.testing.assert_frame_equal(second["experiment_results"], results)
