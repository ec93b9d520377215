"""A run that fails before its first node (parameter validation, a missing pretrained model, a tagging error) is
recorded as FAILED in MLflow, with the reason as a tag.

kedro-mlflow opens the MLflow run in ``before_pipeline_run`` and only closes it as FAILED in ``on_pipeline_error``,
which Kedro calls for errors inside the runner, not for a ``before_pipeline_run`` hook that raises; the run was left
active and MLflow ended it as FINISHED when the process exited. This wrapper sees every ``before_pipeline_run``.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from mlflow.entities import RunStatus

logger = logging.getLogger(__name__)

MAX_REASON_LENGTH = 5000
REASON_TAG = "failed_before_first_node"


def fail_runs_since(outer_run_id: str | None, reason: str) -> list[str]:
    """End every active run of this thread opened after `outer_run_id` as FAILED, tagged with `reason`."""
    failed = []
    while (run := mlflow.active_run()) is not None and run.info.run_id != outer_run_id:
        mlflow.set_tag(REASON_TAG, reason[:MAX_REASON_LENGTH])
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        failed.append(run.info.run_id)
    return failed


class FailedStartHooks:
    """Wraps every ``before_pipeline_run``: on an exception, the MLflow run kedro-mlflow opened is ended FAILED."""

    @hook_impl(wrapper=True)
    def before_pipeline_run(self) -> Generator[None, Any, Any]:
        outer = mlflow.active_run()
        outer_run_id = outer.info.run_id if outer else None
        try:
            return (yield)
        except Exception as error:
            for run_id in fail_runs_since(outer_run_id, f"{type(error).__name__}: {error}"):
                logger.error("MLflow run %s marked FAILED: the run stopped before its first node", run_id)
            raise
