"""A real ``torchrun --standalone --nproc_per_node=2 -m kuda_pipeline`` on CPU (gloo) in a project copy: both ranks
finish, rank 0 writes every output once and opens the one MLflow run, rank 1 writes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from project_copy import cli_params, copy_project, small_run_params

NAMESPACE = "synthetic_sims"
TINY_SPLITS = {"n_train": 16, "n_valid": 8, "n_test": 8}
TIMEOUT_S = 600


def _lines(output: str, rank: int, pattern: str) -> list[str]:
    """The names a log pattern captures in ``rank``'s lines."""
    return re.findall(rf"\[rank {rank}\] INFO \S+: {pattern}", output)


@pytest.mark.slow
def test_torchrun_with_two_gloo_processes_runs_the_pipeline_and_only_rank_0_writes(tmp_path):
    project = copy_project(tmp_path / "project")
    tracking_uri = f"sqlite:///{project / 'mlflow.db'}"
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "OMP_NUM_THREADS": "1", "KEDRO_DISABLE_TELEMETRY": "1",
           "HF_HUB_OFFLINE": "1", "MLFLOW_TRACKING_URI": tracking_uri}
    command = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node=2",
               "-m", "kuda_pipeline", f"--pipelines={NAMESPACE}",
               "--params", cli_params(small_run_params([NAMESPACE], TINY_SPLITS, epochs=1))]
    run = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]  # torchrun exits 0 only when every rank did

    # every rank ran the pipeline; the training nodes met in one gloo group
    for rank in (0, 1):
        assert _lines(output, rank, r"Pipeline execution completed successfully"), output[-5000:]
        assert _lines(output, rank, rf"joined the gloo process group: rank {rank} of 2")
    assert _lines(output, 0, r"rank 0 of 2: writes the catalog datasets, checkpoints and the MLflow run")
    assert _lines(output, 1, r"rank 1 of 2: writes nothing")

    # rank 0 saved every output, rank 1 kept the same outputs in memory and saved none
    saved = _lines(output, 0, r"Saving data to (\S+) ")
    kept = _lines(output, 1, r"Keeping (\S+) in memory")
    assert sorted(saved) == sorted(kept) and f"{NAMESPACE}.fusion_model" in saved
    assert not _lines(output, 1, r"Saving data to") and not _lines(output, 0, r"Keeping")

    # each versioned dataset holds one version (rank 1's session would have added its own)
    data = project / "data"
    versioned = [path for path in data.glob(f"0*/{NAMESPACE}/*") if path.is_dir() and path.name != "fusion_checkpoint"]
    assert len(versioned) >= 10
    assert len({version.name for path in versioned for version in path.iterdir()}) == 1
    assert all(len(list(path.iterdir())) == 1 for path in versioned)

    # one stage-2 checkpoint, rank 0's, holding both ranks' RNG states
    [checkpoint] = (data / "06_models" / NAMESPACE / "fusion_checkpoint").iterdir()
    assert len(torch.load(checkpoint, weights_only=True)["rank_rng"]) == 2

    # one MLflow run, opened by rank 0
    assert _lines(output, 0, r"Mlflow run .* has started") and not _lines(output, 1, r"Mlflow run")
    client = MlflowClient(tracking_uri=tracking_uri)
    [mlflow_run] = client.search_runs([client.get_experiment_by_name("kuda_pipeline").experiment_id])
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.params[f"{NAMESPACE}.fusion_training.train.epochs"] == "1"
