"""Runs that cannot cross: each ``kedro run`` reads the versions it wrote itself and locks the files it overwrites.

Kedro gives a run one save version (its session id) but reads an unpinned versioned dataset at the newest version
on disk, looked up when it is first read (and again after each save). Versions sort by the time their run started,
so with two runs at once the later-started one's files win the reads of both. ``RunIsolationHooks`` pins, before
any node runs, the load version of every versioned dataset of the pipeline:

- ``--load-versions name:version`` given by the user: that version;
- produced by the pipeline: this run's save version (with ``--only-missing-outputs``, an output already on disk
  keeps the newest version found at the start, until its node runs);
- read only: the newest version on disk at the start of the run, resolved once (this run's save version when there
  is none yet: an optional input then stays missing, whatever another run writes meanwhile).

Non-versioned files the pipeline writes (e.g. the synthetic corpora) cannot be told apart by version: the run
holds an exclusive lock on each for its whole duration, and a second run that would write one of them refuses to
start, naming the run that holds it. The locks are ``flock`` locks on files under the project's ``.run_locks/``:
the operating system releases them when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, Version
from kedro.io.core import VersionNotFoundError, get_protocol_and_path

from kuda_pipeline.training.distributed import is_main_process

logger = logging.getLogger(__name__)

LOCK_DIR = Path(".run_locks")  # beside data/, which holds data only
FILE_KEYS = ("filepath", "path")


class RunConflictError(RuntimeError):
    """Another run holds a lock on a file this run would write."""


def pin_load_version(dataset: AbstractVersionedDataset, load_version: str) -> None:
    """Make ``dataset`` read ``load_version`` from now on; its save version is unchanged.

    Kedro has no public setter for this (``catalog.get(name, version=...)`` returns a pinned copy that the runner
    does not use), so the dataset's version is replaced in place, as ``DataCatalog`` builds it.
    """
    dataset._version = Version(load_version, dataset.resolve_save_version())
    dataset._clear_version_cache()


def is_versioned(dataset: Any) -> bool:
    """A dataset declared ``versioned: true`` (file datasets subclass the versioned base class either way)."""
    return isinstance(dataset, AbstractVersionedDataset) and dataset.resolve_save_version() is not None


def _newest_version(dataset: AbstractVersionedDataset) -> str | None:
    try:
        versions = dataset.list_versions(full_path=False)
    except VersionNotFoundError:
        return None
    return versions[0] if versions else None


def _producers(pipeline: Any) -> dict[str, Any]:
    return {output: node for node in pipeline.nodes for output in node.outputs}


def load_version_plan(
    pipeline: Any,
    catalog: Any,
    save_version: str,
    user_versions: dict[str, str] | None = None,
    only_missing_outputs: bool = False,
) -> dict[str, str]:
    """The load version of every versioned dataset of ``pipeline`` for a run saving at ``save_version``."""
    user_versions = user_versions or {}
    producers = _producers(pipeline)
    datasets = {name: catalog.get(name) for name in sorted(pipeline.datasets())}
    versioned = {name: ds for name, ds in datasets.items() if is_versioned(ds)}
    newest = {name: _newest_version(ds) for name, ds in versioned.items()}
    plan = {}
    for name in versioned:
        node = producers.get(name)
        will_write = node is not None and not (
            only_missing_outputs and all(newest.get(output) for output in node.outputs if output in versioned)
        )
        if name in user_versions:
            plan[name] = user_versions[name]
        elif will_write or newest[name] is None:
            plan[name] = save_version
        else:
            plan[name] = newest[name]
    return plan


def written_location(catalog: Any, name: str) -> str | None:
    """The ``filepath`` or ``path`` of dataset ``name`` in the catalog's configuration (None for memory, MLflow)."""
    config = catalog.config_resolver.resolve_pattern(name) or {}
    return next((str(config[key]) for key in FILE_KEYS if key in config), None)


def written_files(pipeline: Any, catalog: Any) -> dict[str, Path]:
    """Dataset name → file or folder of each non-versioned, file-backed dataset ``pipeline`` writes."""
    files = {}
    for name in sorted(pipeline.all_outputs()):
        location = written_location(catalog, name)
        if location is None or is_versioned(catalog.get(name)):
            continue
        protocol, local_path = get_protocol_and_path(location)
        if protocol == "file":  # a remote store has no local lock to take
            files[name] = Path(local_path).resolve()
    return files


@dataclass
class RunLocks:
    """Exclusive ``flock`` locks held by one run; the holder's description is written into each lock file."""

    lock_dir: Path
    holder: dict[str, Any]
    _handles: list[int] = field(default_factory=list)

    @staticmethod
    def lock_name(path: Path) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(path).strip("/")) + ".lock"

    def acquire(self, files: dict[str, Path]) -> None:
        """Lock every file of ``files`` or none: ``RunConflictError`` names the run holding the first taken one."""
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name, path in sorted(files.items()):
                self._acquire_one(name, path)
        except BaseException:
            self.release()
            raise

    def _acquire_one(self, name: str, path: Path) -> None:
        handle = os.open(self.lock_dir / self.lock_name(path), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_holder(handle)
            os.close(handle)
            raise RunConflictError(
                f"Another kedro run is writing {path} (dataset {name!r}): {describe_holder(other)}. "
                "Two runs writing the same non-versioned file would read each other's data: wait for it to "
                "finish (or stop it), then run again."
            ) from None
        os.ftruncate(handle, 0)
        os.write(handle, json.dumps({**self.holder, "dataset": name, "path": str(path)}).encode())
        self._handles.append(handle)

    def release(self) -> None:
        while self._handles:
            handle = self._handles.pop()
            os.ftruncate(handle, 0)
            os.close(handle)  # closing the last descriptor releases the flock


def _read_holder(handle: int) -> dict[str, Any]:
    os.lseek(handle, 0, os.SEEK_SET)
    try:
        return json.loads(os.read(handle, 65536).decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder.get("run_id"):
        return "a run whose details are not written yet"
    return (f"run {holder['run_id']} (pipeline {holder.get('pipeline', '?')}, pid {holder.get('pid', '?')} "
            f"on host {holder.get('host', '?')}, started {holder.get('started', '?')})")


class RunIsolationHooks:
    """Pins every versioned dataset's load version and locks the non-versioned files of each run (module doc)."""

    def __init__(self) -> None:
        self._locks: dict[str, RunLocks] = {}  # by run id: sessions of one process may overlap in threads
        self._user_pinned: dict[str, set[str]] = {}

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        run_id = run_params["run_id"]
        holder = {
            "run_id": run_id,
            "pipeline": "+".join(run_params.get("pipeline_names") or ["__default__"]),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        locks = RunLocks(Path(run_params["project_path"]) / LOCK_DIR, holder)
        if is_main_process():  # under torchrun the other ranks write nothing (distributed_run)
            locks.acquire(written_files(pipeline, catalog))
        self._locks[run_id] = locks
        user_versions = run_params.get("load_versions") or {}
        self._user_pinned[run_id] = set(user_versions)
        plan = load_version_plan(pipeline, catalog, run_id, user_versions,
                                 bool(run_params.get("only_missing_outputs")))
        for name, version in plan.items():
            pin_load_version(catalog.get(name), version)
        logger.debug("Pinned load versions: %s", plan)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any) -> None:
        """A node about to run rewrites its outputs: from now on they are read at this run's save version."""
        for name in node.outputs:
            dataset = catalog.get(name)
            if is_versioned(dataset):
                save_version = dataset.resolve_save_version()
                if name not in self._user_pinned.get(save_version, ()):
                    pin_load_version(dataset, save_version)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._release(run_params["run_id"])

    @hook_impl
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        self._release(run_params["run_id"])

    def _release(self, run_id: str) -> None:
        self._user_pinned.pop(run_id, None)
        locks = self._locks.pop(run_id, None)
        if locks is not None:
            locks.release()
