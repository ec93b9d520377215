"""Run tags: the code version, the pipeline's dataset namespaces, and the catalog version of each dataset."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from typing import Any

from kedro.io import AbstractVersionedDataset
from kedro.io.core import VersionNotFoundError
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

MAX_TAG_LENGTH = 5000
MAX_TAGS_PER_BATCH = 100  # MLflow's limit for one log_batch request


def _git(project_path: str, *args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=project_path, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):  # no git executable, or a hung repository
        return None


def git_state(project_path: str) -> dict[str, str]:
    """``git_commit`` (HEAD) and ``git_dirty`` (uncommitted or untracked files); "unknown" outside a checkout."""
    head = _git(project_path, "rev-parse", "HEAD")
    status = _git(project_path, "status", "--porcelain") if head and head.returncode == 0 else None
    if status is None or status.returncode != 0:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": head.stdout.strip(), "git_dirty": str(bool(status.stdout.strip())).lower()}


def run_tags(run_params: dict[str, Any], pipeline: Any, kedro_env: str) -> dict[str, str]:
    """The dataset namespaces the pipeline's nodes belong to, the code version, the env and the pipeline name."""
    namespaces = sorted({node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace})
    return {
        "datasets": ",".join(namespaces),
        **git_state(run_params["project_path"]),
        "kedro_env": kedro_env,
        "pipeline_name": "+".join(run_params.get("pipeline_names") or ["__default__"]),
    }


def dataset_versions(catalog: Any, names: Iterable[str], saved: bool) -> dict[str, str]:
    """``version.<name>`` tags: the save (``saved``) or load version of each versioned dataset in ``names``."""
    versions = {}
    for name in sorted(names):
        dataset = catalog.get(name)
        if not isinstance(dataset, AbstractVersionedDataset):
            continue
        try:
            version = dataset.resolve_save_version() if saved else dataset.resolve_load_version()
        except VersionNotFoundError:  # an optional input that has no version yet
            continue
        if version:
            versions[f"version.{name}"] = version
    return versions


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    """Tags in batches of MLflow's limit, each value cut to ``MAX_TAG_LENGTH`` characters."""
    entries = [RunTag(key, str(value)[:MAX_TAG_LENGTH]) for key, value in tags.items()]
    for start in range(0, len(entries), MAX_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=entries[start : start + MAX_TAGS_PER_BATCH])
