"""Running grid cells as Ray tasks: in parallel, with per-cell resources, a dead worker's cell retried.

Ray is an optional dependency (``pip install "kuda_pipeline[ray]"``), imported only when cells are handed to it.
Workers never talk to MLflow: the driver logs each finished cell as a nested run of the ``kedro run``'s run, so a
remote cluster needs no access to the tracking server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kuda_pipeline.experiments.ray_settings import RaySettings
from kuda_pipeline.experiments.runner import CellOutcomes, DatasetInputs, PlannedRun, run_cell

logger = logging.getLogger(__name__)

TASK_NAME = "kuda_grid_cell"  # Ray titles a worker process "ray::<task name>" while it runs a cell


class RayCellExecutor:
    """Runs planned cells as Ray tasks and collects each one's result or, after the retries, its error."""

    def __init__(self, settings: RaySettings) -> None:
        self.settings = settings

    def __call__(self, runs: Sequence[PlannedRun], inputs: DatasetInputs) -> CellOutcomes:
        if not runs:
            return CellOutcomes({}, {})
        ray = import_ray()
        started = connect(ray, self.settings)
        try:
            task = ray.remote(run_cell).options(
                name=TASK_NAME, num_cpus=self.settings.cell_cpus, num_gpus=self.settings.cell_gpus,
                max_retries=self.settings.max_retries, retry_exceptions=False,
            )
            shared = ray.put(inputs)  # the split arrays and checkpoints go to the object store once
            futures = {task.remote(run, shared): run for run in runs}
            logger.info("%s: %d cell(s) handed to Ray (%s CPU, %s GPU each, %d retries)", inputs.dataset, len(runs),
                        self.settings.cell_cpus, self.settings.cell_gpus, self.settings.max_retries)
            return _collect(ray, futures)
        finally:
            if started:
                ray.shutdown()


def _collect(ray: Any, futures: Mapping[Any, PlannedRun]) -> CellOutcomes:
    """Every task's result as it finishes; a failed task is recorded and the others go on."""
    results, failures = {}, {}
    pending = list(futures)
    while pending:
        (done,), pending = ray.wait(pending, num_returns=1)
        run = futures[done]
        try:
            results[run.key] = ray.get(done)
        except ray.exceptions.RayError as error:
            cell = run.cell
            failures[run.key] = f"({cell.dataset}, {cell.variant.name}, seed {cell.seed}): {type(error).__name__}"
            logger.error("cell %s %s failed: %s", run.key, failures[run.key], error)
    return CellOutcomes(results, failures)


def import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "experiments.ray.enabled is true but Ray is not installed: pip install 'kuda_pipeline[ray]' "
            "(or set experiments.ray.enabled: false to run the cells one after another)"
        ) from error
    return ray


def connect(ray: Any, settings: RaySettings) -> bool:
    """Join the cluster of ``settings.address``, or start a local Ray; True when this call started the connection
    (and the caller shuts it down). An already initialised Ray (e.g. a notebook's) is used as it is."""
    if ray.is_initialized():
        return False
    if settings.address is None:
        ray.init(num_cpus=settings.num_cpus, num_gpus=settings.num_gpus, include_dashboard=False)
    else:
        ray.init(address=settings.address)
    return True
