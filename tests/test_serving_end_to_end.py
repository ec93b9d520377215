"""Day two after a real ``kedro run``: the registered champion served by ``mlflow models serve`` as docs/serving.md
says, the registry's tags and the run's input datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.tracking import MlflowClient
from project_copy import copy_project, run_in_session, small_run_params
from server_process import free_port, running_server

from kuda_pipeline.data.safe_pickle import load_untrusted_pickle, write_mmsa_pickle

NAMESPACE = "synthetic_sims"
MODEL_URI = f"models:/kuda-{NAMESPACE}@champion"
TINY_SPLITS = {"n_train": 16, "n_valid": 8, "n_test": 8}
SERVE_START_TIMEOUT_S = 240
# docs/serving.md, "Serve over HTTP": the request file comes from the model's logged input example
REQUEST_COMMAND = (
    "from mlflow.models.utils import load_serving_example; "
    f"print(load_serving_example('{MODEL_URI}'))"
)


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """A copy of the project after `kedro run --pipelines=synthetic_sims` (tiny corpus, one epoch) into sqlite."""
    project = copy_project(tmp_path_factory.mktemp("day_two") / "project")
    environment = {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        for key, value in environment.items():
            patch.setenv(key, value)
        patch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        patch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
        run_in_session(project, [NAMESPACE], small_run_params([NAMESPACE], TINY_SPLITS, epochs=1))
        mlflow.set_tracking_uri(environment["MLFLOW_TRACKING_URI"])
        yield project, environment
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def served_champion(trained_project):
    """`mlflow models serve -m models:/kuda-synthetic_sims@champion --env-manager local` on a free port."""
    project, environment = trained_project
    port = free_port()
    log_path = project / "serve.log"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", MODEL_URI, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, **environment, "OMP_NUM_THREADS": "1"}
    url = f"http://127.0.0.1:{port}"
    with running_server(command, f"{url}/ping", log_path, SERVE_START_TIMEOUT_S, cwd=project, env=env):
        yield url, env


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_the_documented_request_to_the_served_champion_answers_what_the_model_computes(trained_project, served_champion):
    project, _ = trained_project
    url, env = served_champion
    request = subprocess.run([sys.executable, "-c", REQUEST_COMMAND], cwd=project, env=env, check=True,
                             capture_output=True, text=True).stdout
    start = time.perf_counter()
    status, answer = post(url, request.encode())
    latency_s = time.perf_counter() - start
    assert status == 200, answer
    print(f"served request of 2 samples answered in {latency_s:.3f} s")

    model = mlflow.pyfunc.load_model(MODEL_URI)
    parsed = mlflow.pyfunc.scoring_server.infer_and_parse_data(json.loads(request), model.metadata.get_input_schema())
    expected = model.predict(parsed)
    served = answer["predictions"]
    assert [row["id"] for row in served] == expected["id"].tolist() and len(served) == 2
    for column in ("sentiment", "sentiment_t", "sentiment_v", "sentiment_a"):
        np.testing.assert_allclose([row[column] for row in served], expected[column], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_request_of_the_wrong_shape_is_a_400_that_names_both_shapes(trained_project, served_champion):
    project, _ = trained_project
    url, env = served_champion
    request = json.loads(subprocess.run([sys.executable, "-c", REQUEST_COMMAND], cwd=project, env=env, check=True,
                                        capture_output=True, text=True).stdout)
    request["inputs"]["text_bert"] = [[[101, 2769], [1, 1], [0, 0]]] * 2
    status, answer = post(url, json.dumps(request).encode())
    assert status == 400
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Shape of input (2, 3, 2) does not match expected shape (-1, 3, 39)" in answer["message"]
    assert "'text_bert': Tensor('int64', (-1, 3, 39))" in answer["message"]

    request["inputs"]["text_bert"] = [[[5000000] * 39, [1] * 39, [0] * 39]] * 2
    status, answer = post(url, json.dumps(request).encode())
    assert status == 400
    assert "input 'text_bert' token ids must be in [0, " in answer["message"]


@pytest.mark.slow
def test_the_run_registers_its_model_and_logs_its_input_datasets(trained_project):
    project, _ = trained_project
    client = MlflowClient()
    [run] = client.search_runs([client.get_experiment_by_name("kuda_pipeline").experiment_id])
    registered = client.get_registered_model(f"kuda-{NAMESPACE}")
    assert registered.aliases == {"champion": 1}
    tags = client.get_model_version(f"kuda-{NAMESPACE}", 1).tags
    [split_version] = [path.name for path in (project / "data/03_primary" / NAMESPACE / "split_arrays").iterdir()]
    assert tags["run_id"] == run.info.run_id
    assert tags["data_version"] == split_version
    assert (tags["selection_metric"], tags["selection_mode"]) == ("MAE", "min")
    assert float(tags["valid.MAE"]) >= 0.0 and float(tags["test.MAE"]) >= 0.0
    assert {"test.Acc2", "test.Corr", "test.F1"} <= set(tags)

    inputs = {entry.dataset.name: entry for entry in run.inputs.dataset_inputs}
    assert set(inputs) == {f"{NAMESPACE}.split_arrays/{split}" for split in ("train", "valid", "test")}
    train = inputs[f"{NAMESPACE}.split_arrays/train"]
    assert [tag.value for tag in train.tags if tag.key == "mlflow.data.context"] == ["training"]
    assert split_version in json.loads(train.dataset.source)["uri"]
    assert len(train.dataset.digest) == 32

    logged = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/{NAMESPACE}_kuda")
    assert logged.metadata.get_input_schema().input_names() == [
        "id", "text_bert", "vision", "vision_lengths", "audio", "audio_lengths"]


@pytest.mark.slow
def test_the_predict_pipeline_scores_new_samples_with_the_registered_champion(trained_project):
    project, _ = trained_project
    raw = load_untrusted_pickle(project / "data/01_raw" / NAMESPACE / "unaligned_39.pkl")
    unlabelled = {key: value for key, value in raw["test"].items() if not key.startswith("regression_labels")}
    write_mmsa_pickle(unlabelled, project / "data/01_raw" / NAMESPACE / "new_samples.pkl")

    bootstrap_project(project)
    params = {NAMESPACE: {"predict": {"model": MODEL_URI, "device": "cpu"}}}
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=["predict"], namespaces=[NAMESPACE])

    [version] = (project / "data/07_model_output" / NAMESPACE / "predictions.parquet").iterdir()
    table = pd.read_parquet(version / "predictions.parquet")
    assert table["id"].tolist() == [str(i) for i in raw["test"]["id"]]
    assert set(table["sentiment_class"]) <= {"negative", "neutral", "positive"}
    assert {"attention_share_t", "attention_share_v", "attention_share_a", "dominant_modality"} <= set(table.columns)

    model = mlflow.pyfunc.load_model(MODEL_URI)
    test = {key: raw["test"][key] for key in ("id", "vision_lengths", "audio_lengths")}
    finite = {key: np.nan_to_num(raw["test"][key], nan=0.0, posinf=0.0, neginf=0.0) for key in ("vision", "audio")}
    test.update(text_bert=raw["test"]["text_bert"], **finite)  # ingestion sets non-finite features to 0
    served = model.predict(_signature_typed(model, test))
    np.testing.assert_allclose(table["prediction"], served["sentiment"], rtol=1e-5, atol=1e-6)


def _signature_typed(model, arrays: dict) -> dict:
    """The arrays in the dtypes of the model's signature (what the scoring server's JSON parsing produces)."""
    return {spec.name: np.asarray(arrays[spec.name]).astype(spec.type) for spec in model.metadata.get_input_schema().inputs}
