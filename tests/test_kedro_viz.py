"""kedro-viz: the static site of a throw-away copy of the project, its API JSON and its rendering in Chromium."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from kuda_pipeline.pipeline_registry import KNOWLEDGE_SOURCES, SYNTHETIC_DATASETS, register_pipelines
from project_copy import copy_project, project_after_run, small_run_params

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
WINDOW = (1400, 900)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def kedro_command(project: Path, *arguments: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kedro", *arguments], cwd=project, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"kedro {' '.join(arguments)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def viz_site(tmp_path_factory) -> Iterator[Path]:
    """``kedro viz build --include-previews`` after a run of the label-statistics stages (so that previews exist)."""
    stages = ["synthesis", "ingestion", "label_statistics"]
    with project_after_run(tmp_path_factory.mktemp("viz") / "project", stages, small_run_params(epochs=None)) as project:
        kedro_command(project, "viz", "build", "--include-previews")
        yield project / "build"


def read_api(site: Path, *parts: str) -> dict:
    return json.loads(site.joinpath("api", *parts).read_text())


def node_details(site: Path, dataset: str) -> dict:
    node_id = next(node["id"] for node in read_api(site, "main")["nodes"] if node["name"] == dataset)
    return read_api(site, "nodes", node_id)


@pytest.mark.slow
def test_viz_build_lists_every_registered_pipeline(viz_site):
    registered = set(register_pipelines())

    listed = [pipeline["id"] for pipeline in read_api(viz_site, "main")["pipelines"]]

    assert sorted(listed) == sorted(registered)
    for pipeline_id in registered:
        assert read_api(viz_site, "pipelines", pipeline_id)["selected_pipeline"] == pipeline_id


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pipeline_id", "namespaces"),
    [
        ("full", set(SYNTHETIC_DATASETS)),
        ("predict", set(SYNTHETIC_DATASETS)),
        ("synthetic_sims", {"synthetic_sims"}),
        ("synthetic_mosi", {"synthetic_mosi", KNOWLEDGE_SOURCES["synthetic_mosi"]}),
        ("evaluation", set(SYNTHETIC_DATASETS)),
    ],
)
def test_viz_build_groups_every_node_in_its_dataset_namespace(viz_site, pipeline_id, namespaces):
    page = read_api(viz_site, "pipelines", pipeline_id)
    tasks = [node for node in page["nodes"] if node["type"] == "task"]

    assert set(page["modular_pipelines"]) == {"__root__", *namespaces}
    assert tasks
    for task in tasks:
        namespace = task["full_name"].split(".")[0]
        assert task["modular_pipelines"] == [namespace], task["full_name"]
        assert namespace in namespaces


@pytest.mark.slow
def test_viz_build_includes_table_and_figure_previews(viz_site):
    table = node_details(viz_site, "synthetic_sims.label_statistics")
    figure = node_details(viz_site, "synthetic_sims.dominance_figure")

    assert table["preview_type"] == "TablePreview"
    columns = table["preview"]["columns"]
    rows = [dict(zip(columns, row, strict=True)) for row in table["preview"]["data"]]
    assert [(row["split"], row["n_samples"]) for row in rows] == [("train", 32), ("valid", 12), ("test", 12), ("all", 56)]
    assert all(0.0 <= row["dominant_share_T"] <= 1.0 for row in rows)
    assert figure["preview_type"] == "ImagePreview"
    assert base64.b64decode(figure["preview"]).startswith(PNG_SIGNATURE)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """The URL of ``directory`` served on a free localhost port for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()
            thread.join()


def render_in_chromium(url: str, workdir: Path) -> tuple[str, Path]:
    """The DOM after 15 s of virtual time, and a screenshot of the window."""
    screenshot = workdir / "viz.png"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={workdir / 'chromium-profile'}", f"--screenshot={screenshot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=15000", "--dump-dom", url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"chromium failed:\n{result.stderr[-3000:]}"
    return result.stdout, screenshot


def flowchart_nodes(dom: str) -> list[dict[str, str]]:
    """The attributes of every ``<g class="pipeline-node ...">`` element of the rendered flowchart."""
    tags = re.findall(r'<g\s[^>]*class="pipeline-node[ "][^>]*>', dom)
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', tag)) for tag in tags]


def require_chromium() -> None:
    """Skip where Chromium is missing, except in CI, which installs it (.ci/run)."""
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install chromium (apt-get install chromium chromium-driver)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); CI runs this check")


@pytest.mark.slow
def test_viz_site_renders_the_flowchart_in_headless_chromium(viz_site, tmp_path):
    require_chromium()

    with serve(viz_site) as url:
        dom, screenshot = render_in_chromium(url, tmp_path)

    nodes = flowchart_nodes(dom)
    collapsed = {node["data-node-fullname"] for node in nodes if node["data-node-type"] == "modularPipeline"}
    assert collapsed == set(SYNTHETIC_DATASETS)  # the default pipeline opens with one group per dataset namespace
    datasets = [node["data-node-fullname"] for node in nodes if node["data-node-type"] == "data"]
    assert "synthetic_sims.label_statistics" in datasets
    assert 'class="pipeline-flowchart' in dom
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(screenshot)  # (H, W, RGB[A]) in [0, 1]
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 100  # not a blank page


# What the UI shows once its layout has settled: the zoom of the toolbar ("Zoom level", fitted to the window when
# the page opens) and the median height in pixels of the flowchart's node labels.
SETTLED_STATE_JS = """(() => {
  const scale = document.querySelector('.pipeline-minimap-toolbar__scale');
  const heights = [...document.querySelectorAll('g.pipeline-node text')].map(t => t.getBoundingClientRect().height);
  heights.sort((a, b) => a - b);
  return JSON.stringify({zoom: scale ? scale.textContent : null, nodes: document.querySelectorAll('g.pipeline-node').length,
                         label_px: heights.length ? heights[Math.floor(heights.length / 2)] : 0});
})()"""


async def _settled_view(url: str, workdir: Path, settle_s: float = 3.0, timeout_s: float = 120.0) -> dict:
    """Open ``url`` in headless Chromium (DevTools protocol) and poll the UI until it is unchanged for ``settle_s``.

    ``--dump-dom`` with a virtual-time budget does not wait for the layout, which Kedro-Viz computes in a web
    worker: the zoom it reads varies from run to run (10 %, 13 %, 26 % for the same page).
    """
    import asyncio
    import time

    import aiohttp  # an MLflow dependency

    profile = workdir / "chromium-devtools-profile"
    process = subprocess.Popen(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
         f"--window-size={WINDOW[0]},{WINDOW[1]}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file, start = profile / "DevToolsActivePort", time.monotonic()
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert time.monotonic() - start < 60, "Chromium did not open its DevTools port"
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as http:
            targets = await (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
            page = next(target for target in targets if target["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                ids = iter(range(1, 1_000_000))

                async def call(method: str, **params) -> dict:
                    message_id = next(ids)
                    await socket.send_json({"id": message_id, "method": method, "params": params})
                    while (message := await socket.receive_json()).get("id") != message_id:
                        pass
                    return message.get("result", {})

                await call("Page.navigate", url=url)
                state, since, start = None, time.monotonic(), time.monotonic()
                while time.monotonic() - start < timeout_s:
                    await asyncio.sleep(0.5)
                    result = await call("Runtime.evaluate", expression=SETTLED_STATE_JS, returnByValue=True)
                    current = json.loads(result["result"]["value"])
                    if current != state:
                        state, since = current, time.monotonic()
                    elif state["nodes"] and state["zoom"] and time.monotonic() - since >= settle_s:
                        return state
                raise AssertionError(f"the view did not settle in {timeout_s} s: {state}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def settled_view(url: str, workdir: Path) -> dict:
    import asyncio

    return asyncio.run(_settled_view(url, workdir))


@pytest.mark.slow
def test_viz_default_view_is_readable_in_headless_chromium(viz_site, tmp_path):
    require_chromium()

    with serve(viz_site) as url:
        view = settled_view(url, tmp_path)

    # full (2 groups, 35 datasets) opened at 10 % with 2-pixel labels; data (2 groups, 12 datasets) at 39 %, 6 px
    assert int(view["zoom"].rstrip("%")) >= 30, view
    assert view["label_px"] >= 5, view
    assert view["nodes"] == len(top_level_nodes_of_site(viz_site)) <= MAX_DEFAULT_VIEW_NODES, view


def top_level_nodes_of_site(site: Path) -> list[str]:
    """The ids the site's default view shows collapsed: the root's children in api/main, less the parameters."""
    return [child["id"] for child in read_api(site, "main")["modular_pipelines"]["__root__"]["children"]
            if child["type"] != "parameters"]


# ---------------------------------------------------------------- layers and parameters, as kedro-viz computes them

LAYERS = ["01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models", "07_model_output",
          "08_reporting"]


# the default view's top-level nodes (collapsed namespace groups and the datasets outside them; parameters are hidden
# by default): `full` has 2 groups and 35 datasets, which Kedro-Viz fits to the window at 10 %; `data` has 14
MAX_DEFAULT_VIEW_NODES = 14


def top_level_nodes(tree: dict) -> list[str]:
    """The ids of what a collapsed view shows: the root's children, less the parameters."""
    return [child.id for child in tree["__root__"].children if child.type != "parameters"]


@pytest.mark.parametrize("env", [None, "paper"])
def test_viz_layers_sort_in_order_without_a_cycle_and_every_parameter_exists(tmp_path, monkeypatch, caplog, env):
    from kedro_viz.data_access.managers import DataAccessManager
    from kedro_viz.integrations.kedro.data_loader import load_data
    from kedro_viz.server import populate_data

    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    catalog, pipelines, extras = load_data(project, env=env, include_hooks=env is not None)
    manager = DataAccessManager()
    with caplog.at_level("WARNING"):
        populate_data(manager, catalog, pipelines, extras)
        for pipeline_id in pipelines:
            # as the API answers /api/pipelines/<id>: the collapsed namespace groups join the graph first, and each
            # group is drawn below all its inputs and above all its outputs
            tree = manager.create_modular_pipelines_tree_for_registered_pipeline(pipeline_id)
            layers = manager.get_sorted_layers_for_registered_pipeline(pipeline_id)  # [] and a warning on a cycle
            present = {node.layer for node in manager.nodes.as_dict().values()
                       if getattr(node, "layer", None) and pipeline_id in getattr(node, "pipelines", ())}
            assert [layer for layer in layers if layer in present] == [l for l in LAYERS if l in present], pipeline_id
            if pipeline_id == "full":
                assert present == set(LAYERS)
            if pipeline_id == "__default__" and env is None:
                assert len(top_level_nodes(tree)) <= MAX_DEFAULT_VIEW_NODES
    warnings = [record.getMessage() for record in caplog.records]
    assert not [message for message in warnings if "Cannot find parameter" in message or "Layers visual" in message]
    assert ("paper" in pipelines) == (env == "paper")
