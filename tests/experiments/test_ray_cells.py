"""Grid cells on a local Ray (2 CPUs): the sequential path's table, and a killed worker's cell retried."""

from __future__ import annotations

import os
import subprocess
import sys
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from kuda_pipeline.experiments import CellSpec, parse_variants, results_table, run_grid_cells
from kuda_pipeline.experiments.ray_cells import TASK_NAME, RayCellExecutor
from kuda_pipeline.experiments.ray_settings import RaySettings

VARIANTS = parse_variants({"KuDA": {}, "w/o SR": {"architecture": {"use_sentiment_ratio": False}}})


def _cells(seeds: tuple[int, ...] = (0, 1)) -> list[CellSpec]:
    return [CellSpec("tiny", variant, seed) for variant in VARIANTS.values() for seed in seeds]


def test_settings_are_validated_with_the_field_named():
    assert RaySettings.from_params(None) == RaySettings()
    assert RaySettings.from_params({"address": "ray://head:10001", "cell_gpus": 0.25}).cell_gpus == 0.25
    with pytest.raises(ValueError, match=r"experiments.ray.cell_gpus=-1 is invalid: expected a number >= 0"):
        RaySettings.from_params({"cell_gpus": -1})
    with pytest.raises(ValueError, match=r"experiments.ray: unknown field\(s\) \['gpus'\]"):
        RaySettings.from_params({"gpus": 1})
    with pytest.raises(ValueError, match=r"num_cpus/num_gpus size a local Ray; an existing cluster \(auto\)"):
        RaySettings.from_params({"address": "auto", "num_cpus": 2})


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for the module (no dashboard, no token file in the home directory)."""
    ray = pytest.importorskip("ray")
    previous = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    if previous is None:
        os.environ.pop("RAY_AUTH_MODE")
    else:
        os.environ["RAY_AUTH_MODE"] = previous


@pytest.mark.slow
def test_a_four_cell_grid_on_ray_gives_the_sequential_table(local_ray, tiny_inputs):
    sequential = run_grid_cells(_cells(), tiny_inputs, {}, done={})
    on_ray = run_grid_cells(_cells(), tiny_inputs, {}, done={}, execute=RayCellExecutor(RaySettings(cell_cpus=1)))
    assert on_ray.failed == {} and len(on_ray.computed) == 4
    pd.testing.assert_frame_equal(results_table("g", on_ray.cells), results_table("g", sequential.cells))
    # a second run finds every cell finished and hands nothing to Ray
    records = {key: result.to_record() for key, result in on_ray.computed.items()}
    again = run_grid_cells(_cells(), tiny_inputs, {}, done=records, execute=RayCellExecutor(RaySettings()))
    assert again.computed == {} and [c.test_metrics for c in again.cells] == [c.test_metrics for c in on_ray.cells]


def _cell_workers() -> list[int]:
    """Processes titled ``ray::<TASK_NAME>``: Ray workers running a cell now."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith(f"ray::{TASK_NAME}"):
                pids.append(int(entry.name))
    return pids


class _WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the first worker seen running a cell, ``delay_s`` after it started: mid-training."""

    def __init__(self, delay_s: float = 0.2, timeout_s: float = 120.0) -> None:
        super().__init__(daemon=True)
        self.delay_s, self.timeout_s, self.killed = delay_s, timeout_s, None
        self.grid_done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline and not self.grid_done.is_set():
            workers = _cell_workers()
            if workers:
                time.sleep(self.delay_s)
                if workers[0] in _cell_workers():
                    os.kill(workers[0], signal.SIGKILL)
                    self.killed = workers[0]
                    return
            time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("max_retries", [1, 0])
def test_a_cell_whose_worker_is_killed_is_retried_and_the_others_finish(local_ray, tiny_inputs, max_retries):
    for _ in range(3):  # a kill that missed every running cell (too early or too late) proves nothing: retry
        killer = _WorkerKiller()
        killer.start()
        run = run_grid_cells(_cells(seeds=(0,)), tiny_inputs, {}, done={},
                             execute=RayCellExecutor(RaySettings(cell_cpus=1, max_retries=max_retries)))
        killer.grid_done.set()
        killer.join()
        if killer.killed is not None and (max_retries or run.failed):
            break
    assert killer.killed is not None
    if max_retries:
        assert run.failed == {} and len(run.cells) == 2
    else:  # no retry left: that cell is reported, the other one finished
        (description,) = run.failed.values()
        assert "WorkerCrashedError" in description or "died" in description
        assert len(run.cells) == 1 and set(run.computed) | set(run.failed) == {c.key for c in run.cells} | set(
            run.failed)


def test_building_every_pipeline_does_not_import_ray():
    code = ("import sys; from kuda_pipeline.pipeline_registry import register_pipelines; register_pipelines(); "
            "import kuda_pipeline.pipelines.tune.nodes, kuda_pipeline.experiments.tuning; "
            "print('ray' in sys.modules, 'optuna' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["False", "False"]
