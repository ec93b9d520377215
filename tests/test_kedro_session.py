"""The default pipeline through a real KedroSession, in a throw-away copy of the project."""

from __future__ import annotations

import json

import pytest

from project_copy import copy_project, run_in_session, small_run_params


@pytest.mark.slow
def test_full_pipeline_runs_in_a_kedro_session(tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")

    run_in_session(project, ["full"], small_run_params())

    written = {path.name for path in (project / "data").rglob("*") if path.is_file()}
    assert {"ingestion_report.json", "label_statistics.parquet", "dominance_figure.png", "noise_figure.png",
            "translations_en.parquet", "knowledge_t.pt", "fusion_model.pt", "test_predictions.parquet"} <= written
    assert (project / "data" / "01_raw" / "synthetic_sims" / "unaligned_39.pkl").is_file()
    for namespace, accuracy in (("synthetic_sims", "Acc5"), ("synthetic_mosi", "Acc7")):
        [metrics_file] = (project / "data" / "08_reporting" / namespace / "test_metrics.json").glob("*/*.json")
        metrics = json.loads(metrics_file.read_text())
        assert accuracy in metrics["kuda"] and "train_mean_baseline" in metrics
