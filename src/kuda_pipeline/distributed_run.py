"""``kedro run`` under torchrun: every rank runs the pipeline's nodes, rank 0 alone writes.

Each rank runs the same nodes in the same order (the sequential runner), so the training nodes meet in the same
collectives. On the other ranks:

- :class:`RankZeroCatalog` keeps what a node saves in the process's memory, for the rank's later nodes, instead of
  writing files, checkpoints or MLflow entries (kedro-mlflow's datasets included); a dataset whose ``load`` returns
  another type than ``save`` takes (an MMSA pickle) gives the loaded form with an ``as_loaded(data)`` method;
- ``settings.py`` registers neither kedro-mlflow's hooks nor the tracking hooks, so no MLflow run is opened.

:class:`ProcessGroupHooks` logs what each rank writes when the run starts and leaves the process group when it ends.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.context.catalog_mixins import CatalogCommandsMixin
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog

from kuda_pipeline.training.distributed import (
    is_main_process,
    launched_rank,
    launched_world_size,
    leave_process_group,
)

logger = logging.getLogger(__name__)


class RankZeroCatalog(DataCatalog, CatalogCommandsMixin):
    """A ``DataCatalog`` whose saves reach storage on rank 0 only (and everywhere outside torchrun)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rank_local: dict[str, Any] = {}

    def save(self, ds_name: str, data: Any) -> None:
        if is_main_process():
            super().save(ds_name, data)
            return
        self._logger.info("Keeping %s in memory (only rank 0 writes)", ds_name)
        as_loaded = getattr(self.get(ds_name, fallback_to_runtime_pattern=True), "as_loaded", None)
        self._rank_local[ds_name] = as_loaded(data) if as_loaded else data

    def load(self, ds_name: str, version: str | None = None) -> Any:
        if ds_name in self._rank_local:
            return self._rank_local[ds_name]
        return super().load(ds_name, version)

    def exists(self, ds_name: str) -> bool:
        return ds_name in self._rank_local or super().exists(ds_name)

    def release(self, ds_name: str) -> None:
        self._rank_local.pop(ds_name, None)
        super().release(ds_name)

    def confirm(self, ds_name: str) -> None:
        if is_main_process():
            super().confirm(ds_name)


def on_rank_zero(*hooks: Any) -> tuple[Any, ...]:
    """``hooks`` on rank 0 (and outside torchrun), nothing on the other ranks."""
    return hooks if is_main_process() else ()


def plugins_off_rank_zero() -> tuple[str, ...]:
    """The plugins whose hooks the other ranks disable: kedro-mlflow (it would open one MLflow run per rank)."""
    return () if is_main_process() else ("kedro_mlflow", "kedro-mlflow")  # its distribution name, either spelling


class ProcessGroupHooks:
    """Under torchrun, says what this rank writes; leaves the torch.distributed process group (joined by the first
    training node) when the run ends."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        if launched_world_size() == 1:
            return
        rank, size = launched_rank(), launched_world_size()
        if is_main_process():
            logger.info("rank %d of %d: writes the catalog datasets, checkpoints and the MLflow run", rank, size)
        else:
            logger.info("rank %d of %d: writes nothing (outputs stay in this process; rank 0 writes)", rank, size)

    @hook_impl
    def after_pipeline_run(self) -> None:
        leave_process_group()

    @hook_impl
    def on_pipeline_error(self) -> None:
        leave_process_group()
