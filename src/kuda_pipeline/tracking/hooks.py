"""The MLflow hooks of every ``kedro run``: a fail-fast check of a remote tracking server, run tags and artifacts.

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

import logging
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from mlflow.tracking import MlflowClient

from kuda_pipeline.tracking.artifacts import produced_artifacts
from kuda_pipeline.tracking.orphaned_runs import mark_orphaned_runs, process_tags
from kuda_pipeline.tracking.run_tags import dataset_versions, run_tags, set_tags
from kuda_pipeline.tracking.server import check_tracking_server, configured_tracking_uri

logger = logging.getLogger(__name__)


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
