"""Disk cost of one ``kedro run --pipelines=full`` and the time a second, unchanged run saves by reuse.

In a throw-away copy of the project (conf/, src/, pyproject.toml; its own sqlite MLflow store), runs ``full``
twice with the same parameters and reports, per run: wall time, the nodes reused, and the bytes added to
``data/`` and to the MLflow store (``mlflow.db``, ``mlruns/``, ``mlartifacts/``).

    OMP_NUM_THREADS=1 python benchmarks/incremental_runs.py              # the default parameters
    OMP_NUM_THREADS=1 python benchmarks/incremental_runs.py --epochs 1   # every stage 1 epoch (same disk cost)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from project_copy import copy_project  # noqa: E402 - the tests' throw-away copy of the project

NAMESPACES = ("synthetic_sims", "synthetic_mosi")


def size(*paths: Path) -> int:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return total


def epochs_override(epochs: int | None) -> list[str]:
    if epochs is None:
        return []
    params = []
    for namespace in NAMESPACES:
        params += [f"{namespace}.knowledge_pretraining.{m}.train.epochs={epochs}" for m in "tva"]
        params.append(f"{namespace}.fusion_training.train.epochs={epochs}")
    return ["--params", ",".join(params)]


def run_full(project: Path, extra: list[str]) -> dict:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
           "PYTHONPATH": str(project / "src"), "COLUMNS": "1000"}
    data_before = size(project / "data")
    mlflow_before = size(project / "mlflow.db", project / "mlruns", project / "mlartifacts")
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines=full", *extra], cwd=project,
                               env=env, capture_output=True, text=True)
    wall_s = time.perf_counter() - start
    log = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise SystemExit(f"kedro run failed:\n{log[-5000:]}")
    return {"wall_s": round(wall_s, 1),
            "reused_datasets": sorted({line.split("reused ")[1].split()[0] for line in log.splitlines()
                                       if "reused " in line and " from run " in line}),
            "data_added_mb": round((size(project / "data") - data_before) / 1e6, 1),
            "mlflow_added_mb": round((size(project / "mlflow.db", project / "mlruns", project / "mlartifacts") - mlflow_before) / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every stage (default: the conf's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = copy_project(Path(folder) / "project")
        extra = epochs_override(args.epochs)
        first = run_full(project, extra)
        print(json.dumps({"first": first}), flush=True)
        second = run_full(project, extra)
        print(json.dumps({"second": second,
                          "second_over_first_wall": round(second["wall_s"] / first["wall_s"], 3)}), flush=True)


if __name__ == "__main__":
    main()
