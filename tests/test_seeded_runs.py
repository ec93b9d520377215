"""`kedro run` twice with the same seed: byte-identical checkpoints and identical metrics (CPU); another seed differs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from project_copy import copy_project, run_in_session, small_run_params

NAMESPACE = "synthetic_sims"
CHECKPOINTS = ("knowledge_t.pt", "knowledge_v.pt", "knowledge_a.pt", "fusion_model.pt")


def seeded_run(directory: Path, monkeypatch, seed: int) -> tuple[dict[str, bytes], dict]:
    project = copy_project(directory)
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    params = small_run_params([NAMESPACE], {"n_train": 24, "n_valid": 8, "n_test": 8})
    stages = params[NAMESPACE]
    for modality in "tva":
        stages["knowledge_pretraining"][modality] = {"train": {"epochs": 1, "seed": seed, "device": "cpu"}}
    stages["fusion_training"] = {"train": {"epochs": 1, "seed": seed, "device": "cpu"}}
    run_in_session(project, [NAMESPACE], params)
    models = project / "data" / "06_models" / NAMESPACE
    checkpoints = {}
    for name in CHECKPOINTS:
        [path] = (models / name).glob(f"*/{name}")  # one version per run
        checkpoints[name] = path.read_bytes()
    [metrics] = (project / "data" / "08_reporting" / NAMESPACE / "test_metrics.json").glob("*/*.json")
    return checkpoints, json.loads(metrics.read_text())


@pytest.mark.slow
def test_two_runs_with_one_seed_give_the_same_bytes_and_another_seed_does_not(tmp_path, monkeypatch):
    first_checkpoints, first_metrics = seeded_run(tmp_path / "first", monkeypatch, seed=0)
    second_checkpoints, second_metrics = seeded_run(tmp_path / "second", monkeypatch, seed=0)
    other_checkpoints, other_metrics = seeded_run(tmp_path / "other", monkeypatch, seed=1)

    for name in CHECKPOINTS:
        assert first_checkpoints[name] == second_checkpoints[name], name
        assert first_checkpoints[name] != other_checkpoints[name], name
    assert first_metrics == second_metrics and "MAE" in first_metrics["kuda"]
    assert first_metrics["kuda"] != other_metrics["kuda"]
