"""Cell keys, the cell runner on a tiny random KuDA, and skipping finished cells on a rerun."""

import json

import numpy as np
import pytest
import torch

from kuda_pipeline.experiments import CellResult, CellSpec, cell_key, parse_variants, run_grid_cells, runner
from kuda_pipeline.experiments.keys import arrays_fingerprint, state_fingerprint
from kuda_pipeline.experiments.runner import plan_runs
from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.stages import train_fusion

VARIANTS = parse_variants({
    "KuDA": {},
    "w/o SR": {"architecture": {"use_sentiment_ratio": False}},
    "w/o CE": {"architecture": {"alpha": 0.0}},
    "alpha=0": {"architecture": {"alpha": 0}},
    "w/o KIP": {"use_knowledge": False},
    "T+V": {"architecture": {"modalities": ["t", "v"]}},
    "Concatenation": {"architecture": {"fusion": "concat"}},
})


def _cells(*names: str, seed: int = 0, probe_first: bool = False) -> list[CellSpec]:
    return [CellSpec("tiny", VARIANTS[name], seed, probe_first and i == 0) for i, name in enumerate(names)]


def test_cell_key_is_stable_and_independent_of_key_order():
    settings = {"dataset": "d", "seed": 0, "train": {"epochs": 1, "batch_size": 8}}
    assert cell_key(settings) == cell_key({"train": {"batch_size": 8, "epochs": 1}, "seed": 0, "dataset": "d"})
    assert cell_key(settings) == "11b61eab0d83cdbc"  # a changed key scheme makes every finished cell run again
    assert cell_key({**settings, "seed": 1}) != cell_key(settings)
    assert cell_key({**settings, "alpha": 0}) == cell_key({**settings, "alpha": 0.0})  # YAML's 0 and 0.0
    assert cell_key({**settings, "flag": True}) != cell_key({**settings, "flag": 1})


def test_fingerprints_follow_the_content(tiny_arrays, tiny_knowledge):
    changed = {split: dict(arrays) for split, arrays in tiny_arrays.items()}
    changed["test"]["label"] = np.where(np.arange(8) == 0, 0.6, tiny_arrays["test"]["label"]).astype(np.float32)
    assert arrays_fingerprint(tiny_arrays) == arrays_fingerprint({k: dict(v) for k, v in tiny_arrays.items()})
    assert arrays_fingerprint(changed) != arrays_fingerprint(tiny_arrays)
    state = tiny_knowledge["v"]
    first_key = next(iter(state["state_dict"]))
    bumped = {**state, "state_dict": {**state["state_dict"], first_key: state["state_dict"][first_key] + 1}}
    assert state_fingerprint(state) != state_fingerprint(bumped)


def test_keys_follow_the_resolved_model_not_the_variant_name(tiny_inputs):
    runs = plan_runs(_cells("KuDA", "w/o CE", "alpha=0", "w/o KIP", "T+V"), tiny_inputs, {"epochs": 2})
    keys = [run.key for run in runs]
    assert keys[1] == keys[2] and len(set(keys)) == 4
    assert runs[0].train == TrainConfig.from_dict({**tiny_inputs.train, "epochs": 2, "seed": 0})
    assert sorted(runs[0].settings["knowledge"]) == ["a", "t", "v"]
    assert runs[3].settings["knowledge"] == {} and sorted(runs[4].settings["knowledge"]) == ["t", "v"]
    assert len(runs[0].settings["data"]) == 32


def test_a_bad_override_fails_before_any_training(tiny_inputs):
    bad = CellSpec("tiny", parse_variants({"bad": {"architecture": {"alpha": -1.0}}})["bad"], 0)
    with pytest.raises(ValueError, match=r"cell \(tiny, bad, seed 0\): KudaConfig.k and KudaConfig.alpha must be >= 0"):
        plan_runs([bad], tiny_inputs, {})


def test_a_cell_trains_and_records_metrics_and_probe(tiny_inputs):
    grid_run = run_grid_cells(_cells("KuDA", probe_first=True), tiny_inputs, {}, done={})
    (result,) = grid_run.cells
    assert set(result.test_metrics) == {"Acc2", "Acc3", "Acc5", "F1", "F1_authors", "MAE", "Corr"}
    assert result.best_epoch == 1 and result.seconds > 0
    probe = result.probe
    assert probe.ids == [str(i) for i in tiny_inputs.arrays["test"]["id"]]
    assert {name: values.shape for name, values in probe.representations.items()} == {
        "t": (8, 16), "v": (8, 16), "a": (8, 16), "fused": (8, 16)}
    assert {m: values.shape for m, values in probe.attention.items()} == {m: (8, 16) for m in "tva"}
    np.testing.assert_allclose(probe.attention["v"].sum(axis=1), 1.0, atol=1e-4)
    assert {"label", "prediction", "pred_t", "label_t"} <= set(probe.outputs)
    restored = CellResult.from_record(json.loads(json.dumps(result.to_record())))
    assert restored.test_metrics == result.test_metrics and restored.key == result.key
    np.testing.assert_allclose(restored.probe.representations["fused"], probe.representations["fused"], atol=1e-5)


def test_a_fusion_without_attention_maps_gives_a_probe_without_attention(tiny_inputs):
    (result,) = run_grid_cells(_cells("Concatenation", probe_first=True), tiny_inputs, {}, done={}).cells
    assert result.probe.attention == {} and result.probe.representations["fused"].shape == (8, 16)
    assert result.settings["architecture"]["fusion"] == "concat"


def test_finished_cells_are_not_trained_again(tiny_inputs, monkeypatch):
    calls = []
    real_run_cell = runner.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda run, inputs: calls.append(run.key) or real_run_cell(run, inputs))
    cells = _cells("w/o SR", "w/o CE", "alpha=0")
    first = run_grid_cells(cells, tiny_inputs, {}, done={})
    assert len(calls) == 2 and len(first.computed) == 2  # "w/o CE" and "alpha=0" share one run
    records = {key: result.to_record() for key, result in first.computed.items()}
    finished = {key: (lambda key=key: records[key]) for key in records}  # lazy loaders, as a PartitionedDataset gives
    second = run_grid_cells(cells, tiny_inputs, {}, done=finished)
    assert len(calls) == 2 and second.computed == {}
    assert [c.variant for c in second.cells] == ["w/o SR", "w/o CE", "alpha=0"]
    assert [c.test_metrics for c in second.cells] == [c.test_metrics for c in first.cells]


def test_a_finished_cell_without_probe_runs_again_when_the_figures_need_it(tiny_inputs, monkeypatch):
    first = run_grid_cells(_cells("w/o SR"), tiny_inputs, {}, done={})
    calls = []
    real_run_cell = runner.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda run, inputs: calls.append(run.key) or real_run_cell(run, inputs))
    finished = {key: result.to_record() for key, result in first.computed.items()}
    again = run_grid_cells(_cells("w/o SR", probe_first=True), tiny_inputs, {}, done=finished)
    assert len(calls) == 1 and again.cells[0].probe is not None


def test_without_knowledge_nothing_is_loaded_or_frozen(tiny_inputs):
    train = TrainConfig.from_dict(tiny_inputs.train)
    stage, report = train_fusion(tiny_inputs.arrays, tiny_inputs.knowledge, tiny_inputs.architecture,
                                 tiny_inputs.text_encoder_dir, train, "sims", freeze_knowledge=False)
    assert report.loaded == [] and report.skipped == {}
    frozen, report = train_fusion(tiny_inputs.arrays, tiny_inputs.knowledge, tiny_inputs.architecture,
                                  tiny_inputs.text_encoder_dir, train, "sims")
    assert len(report.loaded) == sum(len(s["state_dict"]) for s in tiny_inputs.knowledge.values())
    adapter = "knowledge.v.adapter."
    changed = [not torch.equal(stage.state["state_dict"][k], tiny_inputs.knowledge["v"]["state_dict"][k[12:]])
               for k in stage.state["state_dict"] if k.startswith(adapter)]
    kept = [torch.equal(frozen.state["state_dict"][k], tiny_inputs.knowledge["v"]["state_dict"][k[12:]])
            for k in frozen.state["state_dict"] if k.startswith(adapter)]
    assert changed and any(changed) and kept and all(kept)
