"""MLflow glue for every ``kedro run``: a fail-fast check of a remote tracking server, run tags and artifacts.

kedro-mlflow (a plugin, registered automatically) opens one MLflow run per ``kedro run`` and logs the parameters
and the metrics-history datasets; ``TrackingHooks`` adds the rest. Kedro calls plugin hooks before project hooks
(pluggy calls the last registered first, and plugins register after ``settings.HOOKS``), so the order used here
is explicit:

- ``after_context_created`` runs ``tryfirst``: kedro-mlflow's own one already calls the server, retrying for
  minutes when it is down.
- ``before_pipeline_run`` runs ``trylast``, after kedro-mlflow has started the run; it tags the run (with the
  process that runs it) and closes the runs that killed processes left RUNNING (``orphaned_runs``).
- ``after_pipeline_run`` runs ``tryfirst``, before kedro-mlflow ends the run; it logs the produced files.
  A second, ``trylast`` implementation clears what kedro-mlflow leaves on MLflow's active-run stack.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset
from kedro.io.core import VersionNotFoundError
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

from kuda_pipeline.orphaned_runs import mark_orphaned_runs, process_tags

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
MAX_TAG_LENGTH = 5000
MAX_TAGS_PER_BATCH = 100  # MLflow's limit for one log_batch request
# kedro-mlflow registers the same patterns, but only in its own after_context_created, which runs after ours
MLFLOW_CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]
# figures, stage-1 and stage-2 checkpoints, test predictions and the json summaries
ARTIFACT_DATASETS = re.compile(
    r"(_figure|\.knowledge_[tva]|\.fusion_model|\.test_predictions|_summary|\.test_metrics|\.ingestion_report)$"
)


def configured_tracking_uri(context: Any) -> str | None:
    """The URI kedro-mlflow will use: mlflow.yml's ``server.mlflow_tracking_uri``, else MLFLOW_TRACKING_URI."""
    if mlflow.active_run():  # kedro-mlflow then ignores mlflow.yml and keeps the active run's server
        return mlflow.get_tracking_uri()
    context.config_loader.config_patterns.setdefault("mlflow", MLFLOW_CONFIG_PATTERNS)
    try:
        server = context.config_loader["mlflow"].get("server") or {}
    except MissingConfigException:
        server = {}
    return server.get("mlflow_tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")


def check_tracking_server(uri: str | None, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise ``RuntimeError`` when an http(s) tracking server does not answer ``GET <uri>/health``.

    Other URIs (sqlite, file, a local path) are local stores and are not probed. A 4xx answer counts as
    reachable (e.g. 401 behind authentication); a 5xx answer (e.g. a proxy's 502) does not.
    """
    if not uri or urlparse(uri).scheme not in ("http", "https"):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
            return
    except urllib.error.HTTPError as error:
        if error.code < 500:
            return
        reason = f"HTTP {error.code}"
    except urllib.error.URLError as error:
        reason = str(error.reason)
    except (OSError, http.client.HTTPException) as error:
        reason = repr(error)
    raise RuntimeError(
        f"MLflow tracking server {uri} is unreachable ({reason}, probed {uri.rstrip('/')}/health with a "
        f"{timeout_s:g} s timeout). Start the server (`mlflow server --host HOST --port PORT`) or "
        "change MLFLOW_TRACKING_URI (unset, runs go to the local sqlite:///mlflow.db)."
    )


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


def _local_file(dataset: Any) -> Path | None:
    filepath = getattr(dataset, "_filepath", None)
    if filepath is None:
        return None
    version = dataset.resolve_save_version() if isinstance(dataset, AbstractVersionedDataset) else None
    return Path(str(dataset._get_versioned_path(version) if version else filepath))


def produced_artifacts(catalog: Any, names: Iterable[str]) -> Iterator[tuple[Path, str]]:
    """(file, artifact path ``<namespace>/<short name>``) of each artifact dataset in ``names`` written this run."""
    for name in sorted(names):
        if not ARTIFACT_DATASETS.search(name):
            continue
        path = _local_file(catalog.get(name))
        if path is None or not path.is_file():
            logger.warning("No local file for dataset %r (%s): not logged to MLflow", name, path)
            continue
        namespace, _, short_name = name.rpartition(".")
        yield path, f"{namespace}/{short_name}" if namespace else short_name


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    """Tags in batches of MLflow's limit, each value cut to ``MAX_TAG_LENGTH`` characters."""
    entries = [RunTag(key, str(value)[:MAX_TAG_LENGTH]) for key, value in tags.items()]
    for start in range(0, len(entries), MAX_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=entries[start : start + MAX_TAGS_PER_BATCH])


class TrackingHooks:
    """Fails fast on an unreachable tracking server; tags the kedro-mlflow run and logs the files it produced."""

    def __init__(self) -> None:
        self._kedro_env = ""
        self._outer_run_id: str | None = None
        self._run_id: str | None = None

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        outer_run = mlflow.active_run()  # a run opened before the session (an orchestrator's) is left open
        self._outer_run_id = outer_run.info.run_id if outer_run else None
        self._kedro_env = context.env or context.config_loader.default_run_env
        check_tracking_server(configured_tracking_uri(context))

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        active_run = mlflow.active_run()
        self._run_id = active_run.info.run_id if active_run else None
        if self._run_id is None:
            logger.info("No active MLflow run (tracking disabled for this pipeline): no tags or artifacts")
            return
        tags = {
            **run_tags(run_params, pipeline, self._kedro_env),
            **process_tags(),
            **dataset_versions(catalog, pipeline.inputs(), saved=False),
        }
        client = MlflowClient()
        set_tags(client, self._run_id, tags)
        mark_orphaned_runs(client, marked_by=self._run_id)

    @hook_impl(tryfirst=True)
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        if self._run_id is None:
            return
        client = MlflowClient()
        outputs = pipeline.all_outputs()
        set_tags(client, self._run_id, dataset_versions(catalog, outputs, saved=True))
        for path, artifact_path in produced_artifacts(catalog, outputs):
            client.log_artifact(self._run_id, str(path), artifact_path)

    @hook_impl(specname="after_pipeline_run", trylast=True)
    def release_finished_run(self) -> None:
        """Leave no finished run active in this thread once kedro-mlflow has ended it.

        kedro-mlflow re-enters its run before every node with ``nested=True``; nodes run in this thread push the
        same run again each time and its single ``end_run`` pops one, so the next session in the process (a
        notebook, a test) would find that finished run still active and log into it.
        """
        while self._run_id != self._outer_run_id and (run := mlflow.active_run()) and run.info.run_id == self._run_id:
            mlflow.end_run()
        self._run_id = None
