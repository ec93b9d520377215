"""A tiny Kedro project in a temporary folder for tests of what happens between runs (concurrent, killed).

Its nodes signal through files: ``produce`` touches ``signals/<token>.started`` and waits until ``wait_for``
exists; ``announce`` touches ``signals/<token>.saved`` once ``made`` is saved. A ``LoadRecorder`` hook writes
``loads/<run id>.json``: the version each node input was read at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
WAIT_S = 120

TINY_SETTINGS = """
import json
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset

from kuda_pipeline.incremental import IncrementalHooks
from kuda_pipeline.run_isolation import RunIsolationHooks


class LoadRecorder:
    '''Writes loads/<run id>.json: the version each node input was read at.'''

    def __init__(self):
        self.loads, self.run_id = {}, None

    @hook_impl
    def before_pipeline_run(self, run_params):
        self.run_id, self.loads = run_params["run_id"], {}

    @hook_impl
    def before_node_run(self, node, catalog):
        for name in node.inputs:
            dataset = catalog.get(name)
            if isinstance(dataset, AbstractVersionedDataset):
                self.loads[f"{node.name}:{name}"] = dataset.resolve_load_version()

    @hook_impl
    def after_pipeline_run(self, run_params):
        folder = Path(run_params["project_path"]) / "loads"
        folder.mkdir(exist_ok=True)
        (folder / f"{self.run_id}.json").write_text(json.dumps(self.loads))


"""
UNTRACKED_HOOKS = """
HOOKS = (RunIsolationHooks(), IncrementalHooks(), LoadRecorder())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)
"""
TRACKED_HOOKS = """
from kuda_pipeline.tracking.hooks import TrackingHooks

HOOKS = (RunIsolationHooks(), IncrementalHooks(), TrackingHooks(), LoadRecorder())
"""

TINY_PIPELINES = """
import time
from pathlib import Path

from kedro.pipeline import Pipeline, node

from kuda_pipeline.incremental import reusable


def produce(token, wait_for, signal_dir):
    '''Signals that the run has started, then waits until ``wait_for`` exists (another run's save).'''
    Path(signal_dir, f"{token}.started").touch()
    deadline = time.monotonic() + 120
    while wait_for and not Path(wait_for).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"token": token}


def announce(made, token, signal_dir):
    Path(signal_dir, f"{token}.saved").touch()
    return made["token"]


def consume(made, announced):
    return {"read": made["token"], "announced": announced}


@reusable
def expensive(token, signal_dir):
    '''Appends a line to signals/executions each time it really runs.'''
    with open(Path(signal_dir, "executions"), "a") as log:
        log.write(token + "\\n")
    return {"token": token * 2}, {"curve": [{"value": float(len(token)), "step": 1}]}


def register_pipelines():
    chain = Pipeline([
        node(produce, ["params:token", "params:wait_for", "params:signal_dir"], "made", name="produce"),
        node(announce, ["made", "params:token", "params:signal_dir"], "announced", name="announce"),
        node(consume, ["made", "announced"], "consumed", name="consume"),
    ])
    plain = Pipeline([node(produce, ["params:token", "params:wait_for", "params:signal_dir"], "plain_output",
                           name="produce_plain")])
    reuse = Pipeline([node(expensive, ["params:token", "params:signal_dir"], ["costly", "costly_curve"],
                           name="expensive"),
                      node(consume, ["costly", "params:token"], "consumed", name="consume_costly")],
                     namespace="tiny", parameters={"params:token": "params:token",
                                                   "params:signal_dir": "params:signal_dir"})
    return {"__default__": chain, "chain": chain, "plain": plain, "reuse": reuse}
"""

# the project's package is tiny_runs: Kedro's default logging would drop kuda_pipeline's INFO lines
TINY_LOGGING = """
version: 1
disable_existing_loggers: false
handlers: {console: {class: logging.StreamHandler, stream: ext://sys.stdout}}
loggers: {kedro: {level: INFO}, kuda_pipeline: {level: INFO}}
root: {handlers: [console], level: WARNING}
"""

TINY_CATALOG = """
made: {type: json.JSONDataset, filepath: data/made.json, versioned: true}
consumed: {type: json.JSONDataset, filepath: data/consumed.json, versioned: true}
plain_output: {type: json.JSONDataset, filepath: data/plain_output.json}
"{namespace}.costly": {type: json.JSONDataset, filepath: "data/{namespace}/costly.json", versioned: true}
"{namespace}.consumed": {type: json.JSONDataset, filepath: "data/{namespace}/consumed.json", versioned: true}
"""


def tiny_project(root: Path, tracking_uri: str | None = None) -> Path:
    """A Kedro project with the run-isolation hooks and a recorder of load versions; with ``tracking_uri``,
    also kedro-mlflow and the project's ``TrackingHooks`` logging there."""
    package = root / "src" / "tiny_runs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(TINY_SETTINGS + (TRACKED_HOOKS if tracking_uri else UNTRACKED_HOOKS))
    (package / "pipeline_registry.py").write_text(TINY_PIPELINES)
    (root / "conf" / "base").mkdir(parents=True)
    (root / "conf" / "local").mkdir()
    (root / "conf" / "base" / "catalog.yml").write_text(TINY_CATALOG)
    (root / "conf" / "logging.yml").write_text(TINY_LOGGING)
    if tracking_uri:
        (root / "conf" / "base" / "mlflow.yml").write_text(f"server:\n  mlflow_tracking_uri: {tracking_uri}\n")
    (root / "conf" / "base" / "parameters.yml").write_text("token: x\nwait_for: ''\nsignal_dir: .\nforce_retrain: false\n")
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.kedro]
        package_name = "tiny_runs"
        project_name = "tiny_runs"
        kedro_init_version = "1.7.0"
        source_dir = "src"
    """))
    (root / "signals").mkdir()
    return root


def start_run(project: Path, pipeline: str, token: str, wait_for: str = "", extra_params: str = "") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{project / 'src'}{os.pathsep}{SRC}", "KEDRO_DISABLE_TELEMETRY": "1",
           "COLUMNS": "1000",  # rich would wrap the log lines that are checked
           "MLFLOW_ALLOW_FILE_STORE": "true", "KEDRO_LOGGING_CONFIG": str(project / "conf" / "logging.yml")}
    params = f"token={token},wait_for={wait_for},signal_dir={project / 'signals'}{extra_params}"
    return subprocess.Popen([sys.executable, "-m", "kedro", "run", f"--pipelines={pipeline}", "--params", params],
                            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_file(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"run ended before {path.name}:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear within {WAIT_S} s")
        time.sleep(0.05)


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=WAIT_S)
    return output
