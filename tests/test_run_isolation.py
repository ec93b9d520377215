"""Two ``kedro run`` at once: each reads the versions it wrote itself; a shared non-versioned output is locked."""

from __future__ import annotations

import json

import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline, node

from kuda_pipeline import settings
from kuda_pipeline.run_isolation import RunConflictError, RunIsolationHooks, RunLocks, load_version_plan
from tiny_kedro_project import WAIT_S, finish, start_run, tiny_project, wait_for_file


def test_two_concurrent_runs_each_read_their_own_versions(tmp_path):
    """Run A starts first (older save version) but saves ``made`` after run B: A must still read its own."""
    project = tiny_project(tmp_path / "project")
    signals = project / "signals"
    run_a = start_run(project, "chain", "A", wait_for=str(signals / "B.saved"))
    wait_for_file(signals / "A.started", run_a)
    run_b = start_run(project, "chain", "B")
    output_b, output_a = finish(run_b), finish(run_a)
    assert run_b.returncode == 0, output_b
    assert run_a.returncode == 0, output_a

    consumed = {}
    for version_dir in sorted((project / "data" / "consumed.json").iterdir()):
        consumed[version_dir.name] = json.loads((version_dir / "consumed.json").read_text())
    made_versions = sorted(path.name for path in (project / "data" / "made.json").iterdir())
    assert sorted(consumed) == made_versions and len(made_versions) == 2
    version_a, version_b = made_versions  # versions sort by the time their run started: A first
    assert consumed[version_a]["read"] == "A" and consumed[version_b]["read"] == "B"
    for run_id in made_versions:
        loads = json.loads((project / "loads" / f"{run_id}.json").read_text())
        assert loads == {"announce:made": run_id, "consume:made": run_id}


def test_a_run_writing_a_locked_file_refuses_to_start_and_names_the_holder(tmp_path):
    project = tiny_project(tmp_path / "project")
    signals = project / "signals"
    release = signals / "release"
    holder = start_run(project, "plain", "A", wait_for=str(release))
    wait_for_file(signals / "A.started", holder)
    refused = start_run(project, "plain", "B")
    refused_output = finish(refused)
    release.touch()
    holder_output = finish(holder)

    assert holder.returncode == 0, holder_output
    assert refused.returncode != 0
    assert "Another kedro run is writing" in refused_output and "plain_output.json" in refused_output
    assert f"pid {holder.pid} on host" in refused_output and "pipeline plain" in refused_output
    assert not (signals / "B.started").exists()  # no node of the refused run ran
    assert json.loads((project / "data" / "plain_output.json").read_text()) == {"token": "A"}
    # the holder released its lock: a third run now starts and writes
    third = start_run(project, "plain", "C")
    assert third.wait(timeout=WAIT_S) == 0


def test_plan_pins_outputs_to_the_save_version_and_inputs_to_the_newest_at_start(tmp_path):
    pipeline = Pipeline([node(lambda x: x, "source", "middle", name="first"),
                         node(lambda x: x, "middle", "result", name="second")])
    catalog = DataCatalog.from_config(
        {name: {"type": "json.JSONDataset", "filepath": str(tmp_path / f"{name}.json"), "versioned": True}
         for name in ("source", "middle", "result")},
        save_version="2026-01-01T00.00.00.000Z",
    )
    for version in ("2025-01-01T00.00.00.000Z", "2025-06-01T00.00.00.000Z"):
        for name in ("source", "middle", "result"):
            path = tmp_path / f"{name}.json" / version / f"{name}.json"
            path.parent.mkdir(parents=True)
            path.write_text("1")

    plan = load_version_plan(pipeline, catalog, "2026-01-01T00.00.00.000Z")
    assert plan == {"source": "2025-06-01T00.00.00.000Z", "middle": "2026-01-01T00.00.00.000Z",
                    "result": "2026-01-01T00.00.00.000Z"}

    pinned = load_version_plan(pipeline, catalog, "2026-01-01T00.00.00.000Z",
                               user_versions={"source": "2025-01-01T00.00.00.000Z"})
    assert pinned["source"] == "2025-01-01T00.00.00.000Z"

    # --only-missing-outputs: outputs already on disk are read at the newest version (their nodes are skipped)
    skipping = load_version_plan(pipeline, catalog, "2026-01-01T00.00.00.000Z", only_missing_outputs=True)
    assert skipping["middle"] == skipping["result"] == "2025-06-01T00.00.00.000Z"


def test_an_input_with_no_version_yet_stays_missing_whatever_is_written_meanwhile(tmp_path):
    pipeline = Pipeline([node(lambda x: x, "optional", "out", name="only")])
    catalog = DataCatalog.from_config(
        {"optional": {"type": "json.JSONDataset", "filepath": str(tmp_path / "optional.json"), "versioned": True}},
        save_version="2026-01-01T00.00.00.000Z",
    )
    assert load_version_plan(pipeline, catalog, "2026-01-01T00.00.00.000Z") == {"optional": "2026-01-01T00.00.00.000Z"}


def test_locks_are_all_or_nothing_and_released(tmp_path):
    first = RunLocks(tmp_path / "locks", {"run_id": "r1", "pid": 1, "host": "h", "pipeline": "p", "started": "t"})
    first.acquire({"b": tmp_path / "b.json"})
    second = RunLocks(tmp_path / "locks", {"run_id": "r2"})
    with pytest.raises(RunConflictError, match=r"b\.json \(dataset 'b'\): run r1 \(pipeline p, pid 1 on host h"):
        second.acquire({"a": tmp_path / "a.json", "b": tmp_path / "b.json"})
    third = RunLocks(tmp_path / "locks", {"run_id": "r3"})
    third.acquire({"a": tmp_path / "a.json"})  # the refused run kept none of its locks
    third.release()
    first.release()
    second.acquire({"a": tmp_path / "a.json", "b": tmp_path / "b.json"})
    second.release()


def test_the_project_registers_the_run_isolation_hooks():
    assert any(isinstance(hook, RunIsolationHooks) for hook in settings.HOOKS)
