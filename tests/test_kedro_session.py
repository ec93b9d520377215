"""The default pipeline through a real KedroSession, in a throw-away copy of the project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def copy_project(target: Path) -> Path:
    """conf/, src/ and pyproject.toml: enough for Kedro to treat ``target`` as the project."""
    ignore = shutil.ignore_patterns("__pycache__", "local", "*.egg-info")
    shutil.copytree(PROJECT_ROOT / "conf", target / "conf", ignore=ignore)
    (target / "conf" / "local").mkdir()
    shutil.copytree(PROJECT_ROOT / "src", target / "src", ignore=ignore)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


@pytest.mark.slow
def test_full_pipeline_runs_in_a_kedro_session(tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    bootstrap_project(project)
    small = {"n_train": 32, "n_valid": 12, "n_test": 12}
    runtime_params = {f"{ns}.synthesis.{key}": value for ns in ("synthetic_sims", "synthetic_mosi")
                      for key, value in small.items()}

    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session.run(pipeline_names=["full"])

    written = {path.name for path in (project / "data").rglob("*") if path.is_file()}
    assert {"ingestion_report.json", "label_statistics.parquet", "dominance_figure.png", "noise_figure.png"} <= written
    assert (project / "data" / "01_raw" / "synthetic_sims" / "unaligned_39.pkl").is_file()
