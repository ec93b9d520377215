"""One MLflow run per cell, nested in the active run, tagged with the grid; nothing without a tracking URI."""

import logging

import mlflow
import pytest
from kedro.io import DatasetError
from mlflow.tracking import MlflowClient
from mlflow.tracking._tracking_service import utils as tracking_utils

from kuda_pipeline.datasets.mlflow_grid_runs import MlflowGridRunsDataset

RECORDS = [
    {"grid": "reduced", "run_name": f"d | {variant} | seed 0",
     "tags": {"grid": "reduced", "dataset": "d", "variant": variant, "seed": "0", "trial": key, "cell_key": key},
     "params": {"dataset": "d", "variant": variant, "seed": 0, "cell_key": key, "use_knowledge": True},
     "metrics": {"test.MAE": mae, "best_epoch": 1.0}}
    for variant, key, mae in (("KuDA", "k1", 0.4), ("w/o DAF", "k2", 0.5))
]


def test_without_a_tracking_uri_nothing_is_logged(monkeypatch, caplog):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(mlflow, "start_run", lambda *a, **k: pytest.fail("no run may start"))
    with caplog.at_level(logging.INFO):
        MlflowGridRunsDataset().save(RECORDS)
    assert "No MLflow tracking URI set: 2 grid cell run(s) not logged" in caplog.text
    with pytest.raises(DatasetError, match="write-only"):
        MlflowGridRunsDataset().load()


@pytest.mark.slow
def test_each_cell_is_a_nested_run_sharing_the_grid_tag(tmp_path, monkeypatch):
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")  # restored after the test
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)  # an earlier session's, elsewhere
    with mlflow.start_run(run_name="kedro run") as parent:
        MlflowGridRunsDataset().save(RECORDS)
        assert mlflow.active_run().info.run_id == parent.info.run_id
    runs = MlflowClient().search_runs([parent.info.experiment_id], "tags.grid = 'reduced'", order_by=["params.variant"])
    assert [run.data.params["variant"] for run in runs] == ["KuDA", "w/o DAF"]
    assert all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in runs)
    assert [run.data.metrics["test.MAE"] for run in runs] == [0.4, 0.5]
    assert runs[1].data.tags["trial"] == "k2" and runs[1].data.tags["variant"] == "w/o DAF"
    assert runs[1].data.tags["cell_key"] == "k2" and runs[1].info.run_name == "d | w/o DAF | seed 0"
