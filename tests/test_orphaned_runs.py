"""Runs left RUNNING by a killed process are marked KILLED by the next run; live and foreign runs are left alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from kuda_pipeline.tracking.orphaned_runs import (
    HOST_TAG,
    ORPHANED_TAG,
    PID_TAG,
    START_TAG,
    mark_orphaned_runs,
    process_alive,
    process_start,
    process_tags,
)
from tiny_kedro_project import finish, start_run, tiny_project, wait_for_file


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a file store starts in milliseconds, sqlite in seconds
    return MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())


@pytest.fixture
def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def running_run(client, experiment_id, tags, parent=None):
    tags = {**tags, **({"mlflow.parentRunId": parent} if parent else {})}
    return client.create_run(experiment_id, tags=tags).info.run_id


def test_process_tags_describe_this_process():
    tags = process_tags()
    assert tags[HOST_TAG] == socket.gethostname() and tags[PID_TAG] == str(os.getpid())
    assert tags[START_TAG] == (process_start(os.getpid()) or "")
    assert process_alive(os.getpid(), tags[START_TAG])


def test_a_dead_or_reused_pid_is_not_alive(dead_pid):
    assert not process_alive(dead_pid)
    start = process_start(os.getpid())
    if start is None:
        pytest.skip("no /proc: a reused pid cannot be told apart here")
    assert not process_alive(os.getpid(), str(int(start) + 1))  # same pid, another start: another process


def test_orphans_of_this_host_are_killed_with_their_nested_runs(client, dead_pid):
    experiment = client.create_experiment("kuda")
    host = socket.gethostname()
    me = {HOST_TAG: host, PID_TAG: str(os.getpid()), START_TAG: process_start(os.getpid()) or ""}
    orphan = running_run(client, experiment, {HOST_TAG: host, PID_TAG: str(dead_pid), START_TAG: ""})
    nested = running_run(client, experiment, {}, parent=orphan)
    finished_nested = running_run(client, experiment, {}, parent=orphan)
    client.set_terminated(finished_nested, "FINISHED")
    alive = running_run(client, experiment, me)
    elsewhere = running_run(client, experiment, {HOST_TAG: "another-host", PID_TAG: str(dead_pid)})
    untagged = running_run(client, experiment, {})

    assert mark_orphaned_runs(client, marked_by="run-now") == [orphan]

    status = {run_id: client.get_run(run_id).info.status
              for run_id in (orphan, nested, finished_nested, alive, elsewhere, untagged)}
    assert status == {orphan: "KILLED", nested: "KILLED", finished_nested: "FINISHED", alive: "RUNNING",
                      elsewhere: "RUNNING", untagged: "RUNNING"}
    assert client.get_run(orphan).info.end_time is not None
    assert client.get_run(orphan).data.tags[ORPHANED_TAG] == (
        f"process {dead_pid} on {host} no longer runs; marked KILLED by run run-now")
    assert mark_orphaned_runs(client) == []  # nothing left to close


def test_a_killed_kedro_run_is_marked_killed_by_the_next_one(tmp_path, monkeypatch):
    """A real ``kedro run`` is SIGKILLed mid-node; the next ``kedro run`` in the project closes its MLflow run."""
    tracking_uri = (tmp_path / "mlruns").as_uri()
    project = tiny_project(tmp_path / "project", tracking_uri=tracking_uri)
    killed = start_run(project, "plain", "A", wait_for=str(project / "signals" / "never"))
    wait_for_file(project / "signals" / "A.started", killed)
    killed.kill()
    killed.wait()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    [left] = client.search_runs(experiments, f"tags.`{PID_TAG}` = '{killed.pid}'")
    assert left.info.status == "RUNNING" and left.data.tags[HOST_TAG] == socket.gethostname()

    following = start_run(project, "plain", "B")
    output = finish(following)
    assert following.returncode == 0, output  # the killed run's file lock went with its process

    assert client.get_run(left.info.run_id).info.status == "KILLED"
    [current] = client.search_runs(experiments, f"tags.`{PID_TAG}` = '{following.pid}'")
    assert current.info.status == "FINISHED"
    assert client.get_run(left.info.run_id).data.tags[ORPHANED_TAG].endswith(f"by run {current.info.run_id}")
    assert f"MLflow run {left.info.run_id}" in output and "was left RUNNING" in output
