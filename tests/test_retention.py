"""Retention: the newest N versions per dataset and the newest N MLflow runs stay; registered models stay."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from kuda_pipeline.retention import apply_retention, main

VERSIONS = ["2026-01-0%dT10.00.00.000Z" % day for day in (1, 2, 3, 4)]


def write(path, text="x" * 100):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    for version in VERSIONS:
        write(root / "data" / "06_models" / "ns" / "fusion_model.pt" / version / "fusion_model.pt")
        write(root / "data" / "03_primary" / "ns" / "split_arrays" / version / "split_arrays" / "train" / "x.npy")
    only_once = root / "data" / "04_feature" / "ns" / "translations_en.parquet" / VERSIONS[0] / "translations_en.parquet"
    write(only_once)
    write(root / "data" / "01_raw" / "ns" / "unaligned_39.pkl")  # not versioned: never touched
    write(root / "data" / ".reuse" / "ns.train_fusion_model" / "old.json",
          json.dumps({"run_id": VERSIONS[0], "versions": {"ns.fusion_model": VERSIONS[0]},
                     "folders": {"ns.fusion_model": "data/06_models/ns/fusion_model.pt"}}))
    write(root / "data" / ".reuse" / "ns.train_fusion_model" / "new.json",
          json.dumps({"run_id": VERSIONS[3], "versions": {"ns.fusion_model": VERSIONS[3]},
                     "folders": {"ns.fusion_model": "data/06_models/ns/fusion_model.pt"}}))
    return root


def remaining(folder):
    return sorted(path.name for path in folder.iterdir())


def test_dataset_versions_beyond_the_newest_n_are_removed_per_dataset(project):
    report = apply_retention(project, keep=2, tracking_uri=None)
    data = project / "data"
    assert remaining(data / "06_models" / "ns" / "fusion_model.pt") == VERSIONS[2:]
    assert remaining(data / "03_primary" / "ns" / "split_arrays") == VERSIONS[2:]
    assert remaining(data / "04_feature" / "ns" / "translations_en.parquet") == VERSIONS[:1]  # its only version
    assert (data / "01_raw" / "ns" / "unaligned_39.pkl").is_file()
    assert remaining(data / ".reuse" / "ns.train_fusion_model") == ["new.json"]
    assert len(report.dataset_versions) == 4 and report.freed_bytes == 4 * 100


def test_a_dry_run_removes_nothing(project):
    before = sorted(str(path) for path in project.rglob("*"))
    report = main(["--keep", "1", "--project", str(project), "--dry-run"])
    assert sorted(str(path) for path in project.rglob("*")) == before
    assert len(report.dataset_versions) == 6


def test_older_mlflow_runs_go_with_their_artifacts_unless_registered(tmp_path, monkeypatch, project):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=f"sqlite:///{tmp_path / 'registry.db'}")
    experiment = client.create_experiment("kuda_pipeline")
    runs = []
    for index in range(4):
        run = client.create_run(experiment, start_time=1000 + index)
        artifact = tmp_path / f"summary{index}.json"
        artifact.write_text("{}")
        client.log_artifact(run.info.run_id, str(artifact))
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
    nested = client.create_run(experiment, tags={"mlflow.parentRunId": runs[0]}, start_time=1001).info.run_id
    client.set_terminated(nested)
    running = client.create_run(experiment, start_time=999).info.run_id  # still RUNNING: never touched
    client.create_registered_model("kuda-ns")
    client.create_model_version("kuda-ns", f"runs:/{runs[1]}/model", run_id=runs[1])

    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    report = apply_retention(project, keep=2, tracking_uri=uri)

    assert sorted(report.runs) == sorted([runs[0], nested]) and report.kept_registered == [runs[1]]
    status = {run_id: client.get_run(run_id).info.lifecycle_stage for run_id in [*runs, nested, running]}
    assert status == {runs[0]: "deleted", nested: "deleted", runs[1]: "active", runs[2]: "active",
                      runs[3]: "active", running: "active"}
    artifacts = tmp_path / "mlruns" / experiment
    assert not any((artifacts / runs[0] / "artifacts").iterdir())
    assert [path.name for path in (artifacts / runs[1] / "artifacts").iterdir()] == ["summary1.json"]
