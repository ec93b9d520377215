"""Incremental runs: a reusable node whose inputs, parameters and code are those of an earlier successful run
returns that run's outputs instead of computing them again.

The key of a node run is the digest of its name, the content of every input (datasets and ``params:`` entries
alike), and the code version: a digest of the package's Python sources and the versions of torch, numpy and
transformers. After a successful ``kedro run`` each reusable node's key is recorded in a small manifest,
``data/.reuse/<node>/<key>.json``: the run, the catalog version of each versioned output, and the value of each
other output (metric histories). On a later run with the same key the outputs are loaded at those versions and
saved again as this run's versions, so lineage, MLflow artifacts and run isolation hold as for a computed result;
the log says ``reused <dataset> from run <id>`` and the MLflow run is tagged ``reused.<node>``.

A node opts in with :func:`reusable` (the training and translation nodes). Kedro cannot skip a node from a hook,
so ``before_node_run`` hands a hit to the node through Kedro's input override, as a :class:`ReusedResult` that
the decorated function returns unchanged. The ``force_retrain`` parameter recomputes anyway: ``true`` for every
node, or a list of dataset namespaces and node names.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import Version

from kuda_pipeline.digest import content_digest
from kuda_pipeline.run_isolation import is_versioned, written_location
from kuda_pipeline.training.distributed import is_main_process

logger = logging.getLogger(__name__)

MANIFEST_DIR = Path("data") / ".reuse"
FORCE_PARAMETER = "force_retrain"
LIBRARIES = ("torch", "numpy", "transformers")
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ReusedResult:
    """What a reusable node returns instead of computing: an earlier run's outputs, in the node's output layout."""

    result: Any


def reusable(func: Callable) -> Callable:
    """Let ``IncrementalHooks`` replace a run of ``func`` by an earlier identical one (see the module doc).

    A node of ``func`` declares a single output as a string and several as a list.
    """

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        for value in (*args, *kwargs.values()):
            if isinstance(value, ReusedResult):
                return value.result
        return func(*args, **kwargs)

    run.reusable = True
    return run


@functools.cache
def code_version() -> str:
    """Digest of the package's ``.py`` sources and of the library versions that shape the computed numbers."""
    sources = {str(path.relative_to(PACKAGE_DIR)): path.read_bytes().decode("utf-8", "replace")
               for path in sorted(PACKAGE_DIR.rglob("*.py"))}
    libraries = {name: importlib.metadata.version(name) for name in LIBRARIES}
    return content_digest({"sources": sources, "libraries": libraries})


def forced(node_name: str, setting: Any) -> bool:
    """Whether ``force_retrain`` (a bool, or a list of namespaces / node names) selects node ``node_name``."""
    if isinstance(setting, bool):
        return setting
    if not isinstance(setting, (list, tuple)) or not all(isinstance(item, str) for item in setting):
        raise ValueError(f"{FORCE_PARAMETER} must be true, false or a list of dataset namespaces and node names, "
                         f"got {setting!r}")
    return any(node_name == item or node_name.startswith(f"{item}.") for item in setting)


@dataclass
class _Pending:
    key: str
    outputs: dict[str, Any]


class IncrementalHooks:
    """Reuses the outputs of reusable nodes whose key an earlier successful run recorded (module doc)."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, Any]] = {}  # by run id: settings and nodes computed, awaiting success
        self._digests: dict[tuple[str, str], str] = {}  # (dataset, version) → digest: a version never changes

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        parameters = catalog.load("parameters")
        force = parameters.get(FORCE_PARAMETER, False)
        forced("", force)  # validates the setting before any node runs
        manifest_dir = Path(run_params["project_path"]) / MANIFEST_DIR
        self._runs[run_params["run_id"]] = {"force": force, "manifest_dir": manifest_dir, "pending": {}}

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], run_id: str) -> dict | None:
        run = self._runs.get(run_id)
        if run is None or not getattr(node.func, "reusable", False):
            return None
        key = self._key(node, catalog, inputs)
        if not forced(node.name, run["force"]):
            entry = self._usable_entry(run["manifest_dir"] / node.name / f"{key}.json", catalog)
            if entry is not None:
                return {node.inputs[0]: ReusedResult(self._restore(node, catalog, entry))}
        run["pending"][node.name] = _Pending(key, {})
        return None

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any], run_id: str) -> None:
        pending = self._runs.get(run_id, {}).get("pending", {}).get(node.name)
        if pending is not None:
            pending.outputs = dict(outputs)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], catalog: Any) -> None:
        run = self._runs.pop(run_params["run_id"], None)
        if run is None or not is_main_process():  # under torchrun only rank 0 has written the outputs
            return
        active = mlflow.active_run()
        for node_name, pending in run["pending"].items():
            entry = _manifest_entry(pending.outputs, catalog, run_params["run_id"],
                                    active.info.run_id if active else None, Path(run_params["project_path"]))
            if entry is None:
                logger.info("%s: an output is neither versioned nor JSON: its result is not recorded for reuse",
                            node_name)
                continue
            _write_json(run["manifest_dir"] / node_name / f"{pending.key}.json", entry)

    @hook_impl
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        self._runs.pop(run_params["run_id"], None)  # only a successful run's results are reused

    def _key(self, node: Any, catalog: Any, inputs: Mapping[str, Any]) -> str:
        digests = {}
        for name, data in inputs.items():
            dataset = catalog.get(name)
            if is_versioned(dataset):
                cache_key = (name, dataset.resolve_load_version())
                if cache_key not in self._digests:
                    self._digests[cache_key] = content_digest(data)
                digests[name] = self._digests[cache_key]
            else:
                digests[name] = content_digest(data)
        return content_digest({"node": node.name, "inputs": digests, "code": code_version()})

    @staticmethod
    def _usable_entry(path: Path, catalog: Any) -> dict[str, Any] | None:
        """The manifest entry at ``path`` when every version it names is still on disk (retention may remove)."""
        if not path.is_file():
            return None
        entry = json.loads(path.read_text())
        for name, version in entry["versions"].items():
            if not catalog.get(name, version=Version(version, None)).exists():
                logger.info("%s: version %s of %s is gone; computing again", path.parent.name, version, name)
                return None
        return entry

    @staticmethod
    def _restore(node: Any, catalog: Any, entry: Mapping[str, Any]) -> Any:
        values = []
        for name in node.outputs:
            if name in entry["versions"]:
                values.append(catalog.load(name, version=entry["versions"][name]))
            else:
                values.append(entry["values"][name])
            logger.info("reused %s from run %s%s", name, entry["run_id"],
                        f" (MLflow run {entry['mlflow_run_id']})" if entry.get("mlflow_run_id") else "")
        if active := mlflow.active_run():
            mlflow.MlflowClient().set_tag(active.info.run_id, f"reused.{node.name}",
                                          entry.get("mlflow_run_id") or entry["run_id"])
        return values[0] if len(values) == 1 else tuple(values)


def _manifest_entry(outputs: Mapping[str, Any], catalog: Any, run_id: str, mlflow_run_id: str | None,
                    project: Path) -> dict | None:
    """The record of a node run: versions (and folders, for retention) of versioned outputs, values of the rest."""
    versions, folders, values = {}, {}, {}
    for name, data in outputs.items():
        dataset = catalog.get(name)
        if is_versioned(dataset):
            versions[name] = dataset.resolve_save_version()
            folder = Path(written_location(catalog, name))
            folders[name] = str(folder.relative_to(project) if folder.is_relative_to(project) else folder)
            continue
        try:
            values[name] = json.loads(json.dumps(data, allow_nan=True))
        except (TypeError, ValueError):
            return None
    return {"run_id": run_id, "mlflow_run_id": mlflow_run_id, "versions": versions, "folders": folders,
            "values": values}


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False)
    with handle:
        json.dump(value, handle, indent=2)
    os.replace(handle.name, path)
