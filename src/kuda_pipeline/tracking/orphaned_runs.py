"""MLflow runs left RUNNING by a killed ``kedro run``: each run records its process, the next run closes the orphans.

A process killed by SIGKILL, the OOM killer or a lost machine ends no MLflow run. ``TrackingHooks`` tags every run
with ``process.host``, ``process.pid`` and ``process.start`` (the process's start time since boot, read from
``/proc``, so a pid reused by another process is not taken for the run's). At the start of the next ``kedro run``,
:func:`mark_orphaned_runs` sets every RUNNING run of this host whose process no longer exists to KILLED, with the
runs nested in it (e.g. experiment cells), and tags why.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlflow.entities import RunStatus, ViewType
from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

HOST_TAG, PID_TAG, START_TAG = "process.host", "process.pid", "process.start"
ORPHANED_TAG = "process.orphaned"
KILLED = RunStatus.to_string(RunStatus.KILLED)


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # fields after "pid (comm)" start at field 3


def process_tags() -> dict[str, str]:
    """The tags that identify this process: host name, pid and start time."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), START_TAG: process_start(pid) or ""}


def process_alive(pid: int, start: str = "") -> bool:
    """Whether process ``pid`` (started at ``start``, when known) still runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        pass
    current_start = process_start(pid)
    return not (start and current_start and current_start != start)


def _running_runs(client: MlflowClient, filter_string: str) -> Iterator[Any]:
    experiment_ids = [experiment.experiment_id for experiment in client.search_experiments(view_type=ViewType.ALL)]
    if not experiment_ids:
        return
    page_token = None
    while True:
        page = client.search_runs(experiment_ids, f"attributes.status = 'RUNNING' AND {filter_string}",
                                  max_results=1000, page_token=page_token)
        yield from page
        page_token = page.token
        if not page_token:
            return


def mark_orphaned_runs(client: MlflowClient, marked_by: str = "", host: str | None = None) -> list[str]:
    """Set to KILLED each RUNNING run of ``host`` (this one) whose process is gone, and the RUNNING runs nested
    in it; tag ``process.orphaned`` with the reason. Returns the ids of the orphaned top-level runs."""
    host = host or socket.gethostname()
    orphans = []
    for run in _running_runs(client, f"tags.`{HOST_TAG}` = '{host}'"):
        tags = run.data.tags
        pid = int(tags.get(PID_TAG, "0") or 0)
        if pid <= 0 or process_alive(pid, tags.get(START_TAG, "")):
            continue
        reason = f"process {pid} on {host} no longer runs; marked KILLED" + (f" by run {marked_by}" if marked_by else "")
        nested = [child.info.run_id for child in
                  _running_runs(client, f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")]
        for run_id in [*nested, run.info.run_id]:
            client.set_tag(run_id, ORPHANED_TAG, reason)
            client.set_terminated(run_id, KILLED)
        logger.warning("MLflow run %s (%s) was left RUNNING: %s (with %d nested run(s))",
                       run.info.run_id, run.info.run_name, reason, len(nested))
        orphans.append(run.info.run_id)
    return orphans
