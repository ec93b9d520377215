"""MLflow's "Datasets" and "Registered models" for every ``kedro run``.

- ``before_node_run``: each split of every ``<namespace>.split_arrays`` a node reads is logged once as an input
  dataset of the run (content digest, versioned source path, context training/validation/testing).
- ``after_pipeline_run`` (``tryfirst``: before kedro-mlflow ends the run): each ``<namespace>.serving_model`` logged
  this run becomes a version of ``kuda-<namespace>``, tagged with the run, the data version and the test metrics;
  ``champion`` moves to it when its validation metric is better (``kuda_pipeline.serving.registry``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset
from mlflow.exceptions import MlflowException

from kuda_pipeline.data.digest import arrays_digest
from kuda_pipeline.serving.registry import Selection, register_selected_model, registered_model_name
from kuda_pipeline.tracking.run_tags import dataset_versions
from kuda_pipeline.training.config import TrainConfig

logger = logging.getLogger(__name__)

SPLIT_CONTEXTS = {"train": "training", "valid": "validation", "test": "testing"}
SPLIT_ARRAYS = ".split_arrays"
SERVING_MODEL = ".serving_model"
CAPTURED = (".fusion_training_summary", ".test_metrics")


def split_source(dataset: Any) -> str | None:
    """The versioned directory a split-arrays dataset reads, or None for an in-memory one."""
    if not isinstance(dataset, AbstractVersionedDataset):
        return None
    return str(dataset._get_load_path())


def log_split_inputs(name: str, splits: dict[str, dict[str, Any]], source: str | None) -> None:
    """Each split as an MLflow input dataset ``<name>/<split>`` with its content digest and ``file://`` source."""
    for split, arrays in splits.items():
        with warnings.catch_warnings():  # MLflow has two identical local-file sources and says so each time
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple")
            dataset = mlflow.data.from_numpy(
                dict(arrays), source=(Path(source) / split).resolve().as_uri() if source else None,
                name=f"{name}/{split}", digest=arrays_digest(arrays),
            )
        mlflow.log_input(dataset, context=SPLIT_CONTEXTS.get(split, split))


class RegistryHooks:
    """Logs the split arrays read as the run's input datasets; registers each serving model logged by the run."""

    def __init__(self) -> None:
        self._logged_inputs: set[str] = set()
        self._outputs: dict[str, Any] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._logged_inputs, self._outputs = set(), {}

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return
        for name, splits in inputs.items():
            if name.endswith(SPLIT_ARRAYS) and name not in self._logged_inputs:
                self._logged_inputs.add(name)
                log_split_inputs(name, splits, split_source(catalog.get(name)))

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        self._outputs.update({name: value for name, value in outputs.items() if name.endswith(CAPTURED)})

    @hook_impl(tryfirst=True)
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        produced = pipeline.all_outputs()
        for name in sorted(produced):
            model_info = getattr(catalog.get(name), "model_info", None) if name.endswith(SERVING_MODEL) else None
            if model_info is None:
                continue
            namespace = name.removesuffix(SERVING_MODEL)
            try:
                self._register(namespace, model_info.model_uri, run.info.run_id, catalog, produced)
            except MlflowException as error:  # the run's results stand; only the registry entry is missing
                logger.error("%s not registered (%s); register it by hand: mlflow.register_model(%r, %r)", name,
                             error.message, model_info.model_uri, registered_model_name(namespace))

    def _output(self, name: str, catalog: Any) -> Any:
        return self._outputs[name] if name in self._outputs else catalog.load(name)

    def _register(self, namespace: str, model_uri: str, run_id: str, catalog: Any, produced: set[str]) -> None:
        train = TrainConfig.from_dict(catalog.load(f"params:{namespace}.fusion_training")["train"])
        summary = self._output(f"{namespace}.fusion_training_summary", catalog)
        test_metrics = self._output(f"{namespace}.test_metrics", catalog)["kuda"]
        metric = train.selection_metric
        selection = Selection(metric, train.selection_mode, float(summary["valid"][metric]))
        split_arrays = f"{namespace}{SPLIT_ARRAYS}"
        versions = dataset_versions(catalog, [split_arrays], saved=split_arrays in produced)
        version = versions.get(f"version.{split_arrays}")
        tags = {
            "run_id": run_id,
            "data_version": version or "unversioned",
            **{f"test.{metric}": repr(float(value)) for metric, value in test_metrics.items()},
        }
        register_selected_model(model_uri, registered_model_name(namespace), selection, tags)
