"""A misspelt ``--params`` key stops ``kedro run`` before any node runs and before any MLflow run opens."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from kuda_pipeline.hooks import ParameterValidationHooks, SectionObjectHooks, namespaces_in_run
from kuda_pipeline.parameters import ParameterError
from kuda_pipeline.pipeline_registry import build_pipelines
from kuda_pipeline.pipelines._settings import FusionTrainingSettings, KnowledgePretrainingSettings
from kuda_pipeline.training.config import TrainConfig
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


# ---------------------------------------------------------------- sections as objects

FUSION_TRAINING = {"checkpoint_dir": "data/checkpoints", "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-4}}


def test_a_node_receives_the_sections_it_annotates_as_objects_and_the_others_as_dicts():
    pipelines = build_pipelines(defined_datasets=("synthetic_sims",))
    train = next(node for node in pipelines["synthetic_sims"].nodes if node.name == "synthetic_sims.train_fusion_model")
    inputs = {name: f"<{name}>" for name in train.inputs}
    inputs.update({"params:synthetic_sims.model": {"scheme": "sims"},
                   "params:synthetic_sims.fusion_training": FUSION_TRAINING})

    replaced = SectionObjectHooks().before_node_run(train, inputs)

    assert list(replaced) == ["params:synthetic_sims.fusion_training"]  # model stays a dict: no section type
    settings = replaced["params:synthetic_sims.fusion_training"]
    assert isinstance(settings, FusionTrainingSettings) and isinstance(settings.train, TrainConfig)
    assert (settings.train.epochs, settings.train.batch_size, settings.checkpoint_dir) == (3, 8, Path("data/checkpoints"))
    assert inputs["params:synthetic_sims.fusion_training"] is FUSION_TRAINING  # the catalog's dict is untouched


def test_stage1_settings_keep_each_modality_and_an_absent_checkpoint_dir_is_none():
    section = {"scheme": "sims", "checkpoint_dir": None,
               **{m: {"loss": "mse", "train": {"epochs": e, "batch_size": 4, "learning_rate": 1e-3}}
                  for m, e in zip("tva", (5, 6, 7))}}
    settings = KnowledgePretrainingSettings.from_parameters(section)
    assert settings.checkpoint_dir is None and settings.scheme == "sims"
    assert {m: (s.loss, s.train.epochs) for m, s in settings.modalities.items()} == {
        "t": ("mse", 5), "v": ("mse", 6), "a": ("mse", 7)}


def test_section_objects_are_not_dataclasses_so_kedro_leaves_the_catalog_dicts_alone():
    from kedro.validation.type_extractor import TypeExtractor

    pipelines = build_pipelines(defined_datasets=("synthetic_sims", "synthetic_mosi"))
    assert TypeExtractor(pipelines).extract_types_from_pipelines() == {}
