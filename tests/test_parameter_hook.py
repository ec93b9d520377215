"""A misspelt ``--params`` key stops ``kedro run`` before any node runs and before any MLflow run opens."""

from __future__ import annotations

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from kuda_pipeline.hooks import ParameterValidationHooks, namespaces_in_run
from kuda_pipeline.parameters import ParameterError
from kuda_pipeline.pipeline_registry import build_pipelines
from project_copy import copy_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (project / "mlruns").as_uri())  # a file store: no database to migrate
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    bootstrap_project(project)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    yield project
    mlflow.set_tracking_uri(None)  # kedro-mlflow sets the process-wide URI and experiment


def test_a_misspelt_runtime_param_stops_the_run_before_any_node(project):
    # what `kedro run --params synthetic_sims.fusion_trainig.train.epochs=2` passes
    misspelt = {"synthetic_sims": {"fusion_trainig": {"train": {"epochs": 2}}}}
    with pytest.raises(ParameterError, match=r"^unknown parameter 'synthetic_sims\.fusion_trainig'; did you mean "
                                             r"'synthetic_sims\.fusion_training'\?$"):
        with KedroSession.create(project_path=project, runtime_params=misspelt) as session:
            session.run(pipeline_names=["synthetic_sims"])
    assert not (project / "data").exists(), "no node ran"
    runs = list((project / "mlruns").glob("*/*/meta.yaml"))
    assert runs == [], "no MLflow run was opened for a run that could not start"


def test_the_hook_runs_first_and_reads_the_namespaces_of_the_run():
    assert ParameterValidationHooks.before_pipeline_run.kedro_impl["tryfirst"] is True
    pipelines = build_pipelines()  # every dataset defined (a session registers only those with parameters)
    assert namespaces_in_run(pipelines["synthetic_mosi"]) == ["synthetic_mosi", "synthetic_sims"]
    assert namespaces_in_run(pipelines["paper"]) == ["mosei", "mosi", "sims", "simsv2"]

