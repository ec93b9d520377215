"""Write-only dataset: one MLflow run per experiment cell, all sharing the tag ``grid=<name>``."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)


class MlflowGridRunsDataset(AbstractDataset[None, list[dict[str, Any]]]):
    """Saves records ``{grid, run_name, tags, params, metrics}`` (``experiments.tracking_records``) as MLflow runs,
    nested in the active run when there is one (kedro-mlflow's run of the ``kedro run``), with the record's tags
    (``grid`` at least).

    Without an active run and without a tracking URI (``mlflow.set_tracking_uri`` or MLFLOW_TRACKING_URI), nothing
    is logged and a note says so.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def save(self, data: list[dict[str, Any]]) -> None:
        if not data:
            return
        if mlflow.active_run() is None and not mlflow.is_tracking_uri_set():
            logger.info("No MLflow tracking URI set: %d grid cell run(s) not logged", len(data))
            return
        nested = mlflow.active_run() is not None
        for record in data:
            tags = record.get("tags") or {"grid": record["grid"]}
            with mlflow.start_run(run_name=record["run_name"], nested=nested, tags=tags):
                mlflow.log_params(record["params"])
                mlflow.log_metrics(record["metrics"])
                for step, metrics in record.get("steps", []):  # e.g. a tuning trial's per-epoch curve
                    mlflow.log_metrics(metrics, step=step)
        logger.info("Logged %d grid cell run(s) to MLflow (tag grid=%s)", len(data), data[0]["grid"])

    def load(self) -> None:
        raise DatasetError("MlflowGridRunsDataset is write-only: query MLflow runs by their 'grid' tag instead")

    def _describe(self) -> dict[str, Any]:
        return {}
