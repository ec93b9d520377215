"""The notebooks: committed without outputs, and executed top to bottom against a small full run."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbconvert.preprocessors import ExecutePreprocessor

from project_copy import PROJECT_ROOT, project_after_run, small_run_params

NOTEBOOKS = ("label_statistics.ipynb", "results.ipynb")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Iterator[Path]:
    """A throw-away project copy after ``full`` ran on small corpora; MLflow tracks into a sqlite file inside it."""
    with project_after_run(tmp_path_factory.mktemp("notebooks") / "project", ["full"], small_run_params()) as project:
        yield project


def execute(name: str, project: Path) -> nbformat.NotebookNode:
    """The notebook after running every cell in a python3 kernel whose working directory is ``project``."""
    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / name, as_version=4)
    ExecutePreprocessor(timeout=600, kernel_name="python3").preprocess(notebook, {"metadata": {"path": str(project)}})
    return notebook


def outputs(notebook: nbformat.NotebookNode, mime: str) -> list[str]:
    """Every output of type ``mime`` ("stream" for printed text), in order, without terminal colour codes."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if mime == "stream" and output.output_type == "stream":
                found.append(ANSI_ESCAPE.sub("", output.text))
            elif mime in output.get("data", {}):
                found.append(ANSI_ESCAPE.sub("", output.data[mime]))
    return found


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_hold_no_outputs(name):
    path = PROJECT_ROOT / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]

    assert code_cells[0].source == "%load_ext kedro.ipython"
    assert [(cell.outputs, cell.execution_count) for cell in code_cells] == [([], None)] * len(code_cells)
    assert notebook.metadata.kernelspec.name == "python3"
    verify = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", str(path)], capture_output=True, text=True)
    assert verify.returncode == 0, f"nbstripout would change {name}: {verify.stdout}{verify.stderr}"


@pytest.mark.slow
def test_label_statistics_notebook_reproduces_the_pipeline_shares(project):
    notebook = execute("label_statistics.ipynb", project)

    assert len(outputs(notebook, "image/png")) == 2  # Figures 7 and 8
    assert "per-split dominance counts of 56 samples agree with synthetic_sims.label_statistics" in outputs(
        notebook, "text/plain"
    )[-1]
    tables = "".join(outputs(notebook, "text/html"))
    assert all(f"dominant_{modality}" in tables for modality in ("T", "V", "A"))


@pytest.mark.slow
def test_results_notebook_puts_the_paper_rows_beside_ours(project):
    notebook = execute("results.ipynb", project)

    printed = "".join(outputs(notebook, "stream"))
    tables = "".join(outputs(notebook, "text/html"))
    assert "paper results for ['mosei', 'mosi', 'sims', 'simsv2']" in printed  # the packaged copy
    assert "train-mean baseline" in tables and ">paper<" in tables
    assert "80.740" in tables  # sims KuDA Acc2
    assert "86.430" in tables  # mosi KuDA Acc2 non-0, from the paper's [has-0, non-0] pair
    assert "dominant_by_prediction" in tables and "dominant_by_labels" in tables
    assert len(outputs(notebook, "image/png")) == 1
