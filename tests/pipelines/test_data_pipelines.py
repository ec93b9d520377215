"""Synthesis → ingestion → label statistics on an in-memory catalog, as the registry wires them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from kuda_pipeline.datasets import MMSAPickleDataset
from kuda_pipeline.pipeline_registry import build_pipelines
from kuda_pipeline.pipelines import ingestion, label_statistics, synthesis


TINY_SIMS = dict(
    n_train=24, n_valid=8, n_test=8, text_length=16, vision_length=6, vision_dim=7,
    audio_length=9, audio_dim=5, language="zh", label_range=(-1.0, 1.0), unimodal_labels=True, seed=3,
)
PARAMETERS = {
    "params:demo.synthesis": TINY_SIMS,
    "params:demo.text_encoder": "embedded",
    "params:demo.ingestion": {"label_range": [-1.0, 1.0]},
    "params:demo.label_statistics": {"tolerance": 0.0, "neutral_band": 0.1},
}


def _run(pipeline: Pipeline, datasets: dict, raw_file=None) -> DataCatalog:
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in datasets.items()})
    if raw_file is not None:
        catalog["demo.raw_mmsa"] = MMSAPickleDataset(str(raw_file))
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_synthesis_ingestion_and_statistics_run_in_one_namespace(tmp_path):
    data_stages = synthesis.create_pipeline(with_english_rendering=True) + ingestion.create_pipeline()
    catalog = _run(Pipeline(data_stages, namespace="demo"), PARAMETERS, raw_file=tmp_path / "unaligned_39.pkl")

    splits = catalog.load("demo.split_arrays")
    assert [len(splits[s]["label"]) for s in ("train", "valid", "test")] == [24, 8, 8]
    assert splits["train"]["vision"].shape == (24, 6, 7)
    assert splits["train"]["text_bert"].dtype == np.int64
    samples = catalog.load("demo.samples")
    assert set(samples["split"]) == {"train", "valid", "test"}
    assert {"label_T", "label_V", "label_A"} <= set(samples.columns)
    report = catalog.load("demo.ingestion_report")
    assert report["splits"]["train"]["count"] == 24 and report["source"] == str(tmp_path / "unaligned_39.pkl")
    rendering = catalog.load("demo.english_rendering")
    assert set(rendering["id"]) == set(samples["id"])

    statistics = _run(
        Pipeline(label_statistics.create_pipeline(dataset="demo"), namespace="demo"), {**PARAMETERS, "demo.samples": samples}
    )
    stats = statistics.load("demo.label_statistics")
    assert list(stats["split"]) == ["train", "valid", "test", "all"]
    assert stats.set_index("split").loc["all", "n_samples"] == 40
    assert isinstance(statistics.load("demo.dominance_figure"), Figure)


def test_statistics_of_a_dataset_without_unimodal_labels_are_skipped_with_a_log(caplog):
    samples = pd.DataFrame({"id": ["a", "b"], "split": ["train", "test"], "label": [0.5, -1.0]})
    catalog = _run(
        Pipeline(label_statistics.create_pipeline(dataset="demo"), namespace="demo"),
        {"demo.samples": samples, "params:demo.label_statistics": PARAMETERS["params:demo.label_statistics"]},
    )
    assert catalog.load("demo.label_statistics").empty
    assert "no unimodal labels" in caplog.text


def test_registry_builds_one_namespace_per_dataset_and_the_transfer_edge():
    pipelines = build_pipelines()  # every dataset defined (a session registers only those with parameters)
    full_namespaces = {node.namespace for node in pipelines["full"].nodes}
    assert full_namespaces == {"synthetic_sims", "synthetic_mosi"}
    paper_namespaces = {node.namespace for node in pipelines["paper"].nodes}
    assert paper_namespaces == {"sims", "simsv2", "mosi", "mosei", "paper"}  # paper: the comparison with the paper
    assemble = next(node for node in pipelines["full"].nodes if node.name == "synthetic_mosi.assemble_knowledge_source")
    assert {"synthetic_sims.split_arrays", "synthetic_sims.translations_en"} <= set(assemble.inputs)
    knowledge_inputs = {i for node in pipelines["synthetic_sims"].nodes if "pretrain" in node.name for i in node.inputs}
    assert "synthetic_sims.split_arrays" in knowledge_inputs
