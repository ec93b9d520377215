"""Throw-away copies of the project for tests that run real Kedro sessions, and the params that keep them small."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from kuda_pipeline.data.contract import MODALITIES
from kuda_pipeline.pipeline_registry import SYNTHETIC_DATASETS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SMALL_SPLITS = {"n_train": 32, "n_valid": 12, "n_test": 12}


def copy_project(target: Path) -> Path:
    """conf/, src/ and pyproject.toml: enough for Kedro to treat ``target`` as the project."""
    ignore = shutil.ignore_patterns("__pycache__", "local", "*.egg-info")
    shutil.copytree(PROJECT_ROOT / "conf", target / "conf", ignore=ignore)
    (target / "conf" / "local").mkdir()
    shutil.copytree(PROJECT_ROOT / "src", target / "src", ignore=ignore)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def small_run_params(namespaces=SYNTHETIC_DATASETS, splits=SMALL_SPLITS, epochs: int | None = 1) -> dict:
    """Runtime params: small synthetic corpora and ``epochs`` for every stage-1 modality and stage 2.

    Nested, not dotted: ``KedroSession.create`` merges ``runtime_params`` as given, so a key such as
    ``"synthetic_sims.synthesis.n_train"`` would be a new top-level parameter (only the CLI splits dots).
    ``epochs=None`` leaves the training settings alone.
    """
    params = {namespace: {"synthesis": dict(splits)} for namespace in namespaces}
    if epochs is not None:
        one = {"train": {"epochs": epochs}}
        for namespace in namespaces:
            params[namespace]["knowledge_pretraining"] = {modality: one for modality in MODALITIES}
            params[namespace]["fusion_training"] = one
    return params


def cli_params(params: dict, prefix: str = "") -> str:
    """Nested runtime params as ``kedro run --params``' dotted form: ``{"a": {"b": 1}}`` → ``"a.b=1"``."""
    return ",".join(cli_params(value, f"{prefix}{key}.") if isinstance(value, dict) else f"{prefix}{key}={value}"
                    for key, value in params.items())


def run_in_session(project: Path, pipeline_names: list[str], runtime_params: dict, env: str | None = None) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=runtime_params, env=env) as session:
        session.run(pipeline_names=pipeline_names)


@contextlib.contextmanager
def project_after_run(target: Path, pipeline_names: list[str], runtime_params: dict) -> Iterator[Path]:
    """A project copy at ``target`` after a session ran ``pipeline_names``; while open, the current directory is
    the copy and MLflow tracks into a sqlite file inside it."""
    project = copy_project(target)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
        run_in_session(project, pipeline_names, runtime_params)
        yield project
