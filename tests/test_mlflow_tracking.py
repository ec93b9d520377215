"""MLflow tracking: the fail-fast server check, tags, versions and artifacts, and a real run on a real server."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import pytest
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node
from mlflow.tracking import MlflowClient

from kuda_pipeline import settings
from project_copy import copy_project, small_run_params
from server_process import free_port, running_server
from kuda_pipeline.tracking.artifacts import produced_artifacts
from kuda_pipeline.tracking.hooks import TrackingHooks
from kuda_pipeline.tracking.run_tags import dataset_versions, git_state, run_tags, set_tags
from kuda_pipeline.tracking.server import check_tracking_server

TINY_SPLITS = {"n_train": 16, "n_valid": 8, "n_test": 8}
NAMESPACE = "synthetic_sims"
SERVER_START_TIMEOUT_S = 240  # schema migrations of a new sqlite store take ~45 s on 2 busy cores


@pytest.fixture
def http_status_server():
    """A local HTTP server answering every GET with the status in ``server.status``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(self.server.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def isolated_mlflow(monkeypatch):
    """kedro-mlflow sets MLflow's process-wide tracking URI and experiment: undo both after the test."""
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    yield
    mlflow.set_tracking_uri(None)


def tracked_project(tmp_path: Path, monkeypatch, tracking_uri: str) -> Path:
    """A copy of the project, the working directory, tracking to `tracking_uri`."""
    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    bootstrap_project(project)
    return project


@pytest.fixture
def mlflow_server(tmp_path):
    """A real ``mlflow server`` on a sqlite store, serving artifacts over HTTP; killed (process group) afterwards."""
    port = free_port()
    store = tmp_path / "server"
    store.mkdir()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination", str(store / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running_server(command, f"{url}/health", store / "server.log", SERVER_START_TIMEOUT_S,
                        env={**os.environ, "OMP_NUM_THREADS": "1"}):
        yield url, store


# ---------------------------------------------------------------- the fail-fast check


@pytest.mark.parametrize("uri", [None, "sqlite:///mlflow.db", "file:///tmp/mlruns", "mlruns", "databricks"])
def test_local_stores_are_not_probed(uri):
    check_tracking_server(uri, timeout_s=0.01)


@pytest.mark.parametrize("status", [200, 401, 404])
def test_a_server_that_answers_is_reachable(http_status_server, status):
    http_status_server.status = status
    check_tracking_server(f"http://127.0.0.1:{http_status_server.server_port}/")


def test_a_server_error_is_unreachable(http_status_server):
    http_status_server.status = 502
    uri = f"http://127.0.0.1:{http_status_server.server_port}"
    with pytest.raises(RuntimeError, match=rf"MLflow tracking server {uri} is unreachable \(HTTP 502"):
        check_tracking_server(uri)


def test_a_closed_port_fails_fast_and_says_what_to_do():
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(RuntimeError) as raised:
        check_tracking_server(uri)
    assert time.monotonic() - start < 3.0
    message = str(raised.value)
    assert f"MLflow tracking server {uri} is unreachable" in message
    assert "Connection refused" in message
    assert "Start the server" in message and "MLFLOW_TRACKING_URI" in message


# ---------------------------------------------------------------- tags, versions, artifacts


def identity(x):
    return x


def test_run_tags_name_the_namespaces_the_env_and_the_pipeline(tmp_path):
    pipeline = Pipeline([node(identity, "x", "y", name="copy")], namespace="synthetic_mosi") + Pipeline(
        [node(identity, "x", "y", name="copy")], namespace="synthetic_sims.translation"
    )
    tags = run_tags({"project_path": str(tmp_path), "pipeline_names": ["a", "b"]}, pipeline, "local")
    assert tags == {
        "datasets": "synthetic_mosi,synthetic_sims",
        "git_commit": "unknown",
        "git_dirty": "unknown",
        "kedro_env": "local",
        "pipeline_name": "a+b",
    }
    assert run_tags({"project_path": str(tmp_path), "pipeline_names": None}, pipeline, "")["pipeline_name"] == (
        "__default__"
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")
def test_git_state_reads_head_and_uncommitted_changes(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)  # fmt: skip

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-q", "-m", "a")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_state(str(tmp_path)) == {"git_commit": head, "git_dirty": "false"}
    (tmp_path / "a.txt").write_text("b")
    assert git_state(str(tmp_path)) == {"git_commit": head, "git_dirty": "true"}


def _catalog(root: Path, save_version: str) -> DataCatalog:
    def json_entry(name: str, artifact: bool = True, versioned: bool = True) -> dict:
        return {"type": "json.JSONDataset", "filepath": str(root / f"{name}.json"), "versioned": versioned,
                "metadata": {"mlflow_artifact": artifact}}

    config = {
        "ns.fusion_training_summary": json_entry("fusion_training_summary"),
        "ns.never_written_summary": json_entry("never_written_summary"),
        "ns.split_report": json_entry("split_report", artifact=False),
        "plain.test_metrics": json_entry("test_metrics", versioned=False),
    }
    return DataCatalog.from_config(config, save_version=save_version)


def test_dataset_versions_are_the_save_version_or_the_latest_load_version(tmp_path):
    first, second = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"
    _catalog(tmp_path, first).save("ns.fusion_training_summary", {"loss": 0.5})
    catalog = _catalog(tmp_path, second)
    catalog["params:lr"] = 0.1
    names = ["ns.fusion_training_summary", "ns.never_written_summary", "plain.test_metrics", "params:lr", "absent"]

    assert dataset_versions(catalog, names, saved=False) == {"version.ns.fusion_training_summary": first}
    assert dataset_versions(catalog, names, saved=True) == {
        "version.ns.fusion_training_summary": second,
        "version.ns.never_written_summary": second,
    }


def test_produced_artifacts_are_the_files_written_this_run(tmp_path, caplog):
    save_version = "2026-01-02T00.00.00.000Z"
    catalog = _catalog(tmp_path, save_version)
    for name in ("ns.fusion_training_summary", "ns.split_report", "plain.test_metrics"):
        catalog.save(name, {"MAE": 0.25})
    names = ["ns.fusion_training_summary", "ns.never_written_summary", "ns.split_report", "plain.test_metrics"]

    produced = list(produced_artifacts(catalog, names))

    summary_file = tmp_path / "fusion_training_summary.json" / save_version / "fusion_training_summary.json"
    assert produced == [
        (summary_file, "ns/fusion_training_summary"),
        (tmp_path / "test_metrics.json", "plain/test_metrics"),
    ]
    assert "No local file for dataset 'ns.never_written_summary'" in caplog.text


def test_tags_go_in_batches_of_mlflows_limit_with_values_cut_to_5000_chars():
    class RecordingClient:
        def __init__(self):
            self.batches = []

        def log_batch(self, run_id, tags):
            self.batches.append((run_id, tags))

    client = RecordingClient()
    set_tags(client, "run", {f"version.d{i}": "x" * 6000 if i == 0 else "v" for i in range(150)})

    assert [(run_id, len(tags)) for run_id, tags in client.batches] == [("run", 100), ("run", 50)]
    assert len(client.batches[0][1][0].value) == 5000
    assert client.batches[1][1][-1].key == "version.d149"


def test_tracking_hooks_are_registered_in_settings():
    assert any(isinstance(hooks, TrackingHooks) for hooks in settings.HOOKS)


# ---------------------------------------------------------------- a real `kedro run`


def test_an_unreachable_server_stops_the_run_before_any_node(tmp_path, monkeypatch, isolated_mlflow):
    uri = f"http://127.0.0.1:{free_port()}"
    project = tracked_project(tmp_path, monkeypatch, uri)

    start = time.monotonic()
    with pytest.raises(RuntimeError, match=rf"MLflow tracking server {uri} is unreachable"):
        with KedroSession.create(project_path=project, runtime_params=small_run_params([NAMESPACE], TINY_SPLITS)) as session:
            session.run(pipeline_names=[NAMESPACE])
    assert time.monotonic() - start < 15.0
    assert not (project / "data").exists()


@pytest.mark.slow
def test_a_run_is_tracked_on_a_real_server(tmp_path, monkeypatch, isolated_mlflow, mlflow_server):
    url, store = mlflow_server
    project = tracked_project(tmp_path, monkeypatch, url)

    with KedroSession.create(project_path=project, runtime_params=small_run_params([NAMESPACE], TINY_SPLITS, epochs=2)) as session:
        session.run(pipeline_names=[NAMESPACE])
    assert mlflow.active_run() is None  # the next session in this process starts a run of its own

    client = MlflowClient(tracking_uri=url)
    [run] = client.search_runs([client.get_experiment_by_name("kuda_pipeline").experiment_id])
    run_id, data = run.info.run_id, run.data
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")

    assert data.params[f"{NAMESPACE}.synthesis.n_train"] == "16"
    assert data.params[f"{NAMESPACE}.fusion_training.train.epochs"] == "2"
    assert data.params[f"{NAMESPACE}.model.architecture.fusion_dim"] == "128"
    assert data.params[f"{NAMESPACE}.model.architecture.vision_encoder.attention_dropout"] == "0.0"  # nested
    assert data.params[f"{NAMESPACE}.model.architecture.reference"] == "paper"
    assert data.params[f"{NAMESPACE}.fusion_training.train.schedule_step"] == "batch"

    stage2 = client.get_metric_history(run_id, f"{NAMESPACE}.stage2.valid_MAE")
    assert [metric.step for metric in stage2] == [1, 2]
    assert {f"{NAMESPACE}.stage1.{modality}.train_loss" for modality in "tva"} <= set(data.metrics)
    [test_mae] = client.get_metric_history(run_id, f"{NAMESPACE}.test.MAE")
    assert 0.0 <= test_mae.value < 2.0

    [save_version] = [path.name for path in (project / "data/06_models" / NAMESPACE / "fusion_model.pt").iterdir()]
    assert data.tags["datasets"] == NAMESPACE
    assert data.tags["pipeline_name"] == NAMESPACE
    assert data.tags["kedro_env"] == "local"
    assert (data.tags["git_commit"], data.tags["git_dirty"]) == ("unknown", "unknown")  # the copy is no checkout
    assert data.tags[f"version.{NAMESPACE}.fusion_model"] == save_version
    assert data.tags[f"version.{NAMESPACE}.dominance_figure"] == save_version

    logged = {artifact.path for artifact in client.list_artifacts(run_id, NAMESPACE)}
    assert {f"{NAMESPACE}/dominance_figure", f"{NAMESPACE}/fusion_model", f"{NAMESPACE}/knowledge_t"} <= logged
    assert f"{NAMESPACE}/split_arrays" not in logged
    [figure] = client.list_artifacts(run_id, f"{NAMESPACE}/dominance_figure")
    assert figure.path == f"{NAMESPACE}/dominance_figure/dominance_figure.png"
    local_checkpoint = project / "data/06_models" / NAMESPACE / "fusion_model.pt" / save_version / "fusion_model.pt"
    [checkpoint] = client.list_artifacts(run_id, f"{NAMESPACE}/fusion_model")
    assert checkpoint.file_size == local_checkpoint.stat().st_size
    stored = store / "artifacts" / run.info.experiment_id / run_id / "artifacts" / NAMESPACE / "fusion_model"
    assert (stored / "fusion_model.pt").stat().st_size == local_checkpoint.stat().st_size


def test_a_run_that_fails_parameter_validation_leaves_no_finished_run(tmp_path, monkeypatch, isolated_mlflow):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    project = tracked_project(tmp_path, monkeypatch, uri)
    params = small_run_params([NAMESPACE], TINY_SPLITS)
    params[NAMESPACE]["fusion_training"] = {"train": {"epochs": -1}}

    with pytest.raises(ValueError, match=r"synthetic_sims.fusion_training.train: TrainConfig.epochs=-1 is invalid"):
        with KedroSession.create(project_path=project, runtime_params=params) as session:
            session.run(pipeline_names=[NAMESPACE])
    assert mlflow.active_run() is None
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("kuda_pipeline")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    assert [run.info.status for run in runs] in ([], ["FAILED"])
    assert not (project / "data").exists()


def test_a_hook_failing_after_the_mlflow_run_started_marks_it_failed(tmp_path, isolated_mlflow):
    from kedro.framework.hooks.manager import _create_hook_manager

    from kuda_pipeline.tracking.failed_start import FailedStartHooks

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)

    class StartsThenFails:  # kedro-mlflow opens its run, then a later before_pipeline_run hook raises
        @hook_impl(tryfirst=True)
        def before_pipeline_run(self):
            mlflow.start_run()

    class Fails:
        @hook_impl(trylast=True)
        def before_pipeline_run(self):
            raise RuntimeError("tags could not be written")

    manager = _create_hook_manager()
    for hooks in (StartsThenFails(), Fails(), FailedStartHooks()):
        manager.register(hooks)
    with pytest.raises(RuntimeError, match="tags could not be written"):
        manager.hook.before_pipeline_run(run_params={}, pipeline=None, catalog=None)
    assert mlflow.active_run() is None
    [run] = MlflowClient(tracking_uri=uri).search_runs(["0"])
    assert run.info.status == "FAILED"
    assert run.data.tags["failed_before_first_node"] == "RuntimeError: tags could not be written"
