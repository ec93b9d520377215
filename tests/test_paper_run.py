"""``kedro run --env=paper --pipelines=paper`` end to end on real-shaped stand-ins of the four datasets.

Stand-ins with the real files' shapes but a few dozen samples per split, a tiny random BERT for every text
encoder, a tiny architecture and one epoch per stage; the precomputed translations cover every id, so the
MarianMT fallback (pointed at a directory that does not exist) is never loaded. The run goes through both
transfers (CH-SIMS → MOSI, CH-SIMSv2 → MOSEI) and ends with the paper-vs-ours report.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from tiny_models import ADAPTER, ARCHITECTURE
from transformers import AutoTokenizer

from kuda_pipeline.data.standins import write_standins
from kuda_pipeline.pipeline_registry import KNOWLEDGE_SOURCES, PAPER_DATASETS
from project_copy import copy_project, run_in_session

SPLITS = {"train": 24, "valid": 8, "test": 8}
ONE_EPOCH = {"train": {"epochs": 1, "batch_size": 8, "device": "cpu"}}


def tiny_paper_params(text_encoder: str, absent_marian: str) -> dict:
    """Runtime params over conf/paper: tiny models, one epoch, a translation model that is not there."""
    architecture = {**ARCHITECTURE, "text_adapter": ADAPTER}
    params = {
        ns: {
            "text_encoder": text_encoder,
            "model": {"architecture": architecture},
            "knowledge_pretraining": {modality: ONE_EPOCH for modality in ("t", "v", "a")},
            "fusion_training": ONE_EPOCH,
            "evaluation": {"batch_size": 8, "device": "cpu"},
        }
        for ns in PAPER_DATASETS
    }
    for source in ("sims", "simsv2"):
        params[source]["translation"] = {"seq2seq": {"model": absent_marian}}
    return params


def latest_json(project, namespace: str, name: str) -> dict:
    [path] = (project / "data" / "08_reporting" / namespace / f"{name}.json").glob("*/*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
def test_the_paper_pipeline_runs_end_to_end_on_stand_ins(tmp_path, monkeypatch, tiny_bert_dir):
    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    write_standins(project / "data" / "01_raw", AutoTokenizer.from_pretrained(tiny_bert_dir), split_sizes=SPLITS)

    run_in_session(project, ["paper"], tiny_paper_params(tiny_bert_dir, str(tmp_path / "no_marian")), env="paper")

    for namespace in PAPER_DATASETS:
        report = latest_json(project, namespace, "ingestion_report")
        assert [report["splits"][split]["count"] for split in SPLITS] == list(SPLITS.values())
        metrics = latest_json(project, namespace, "test_metrics")
        assert metrics["kuda"]["MAE"] > 0
    assert {"Acc5", "Acc3", "Acc2"} <= set(latest_json(project, "simsv2", "test_metrics")["kuda"])
    assert {"Acc7", "Acc2_non0"} <= set(latest_json(project, "mosei", "test_metrics")["kuda"])
    for target, source in KNOWLEDGE_SOURCES.items():
        if target not in PAPER_DATASETS:
            continue
        [translations] = (project / "data" / "04_feature" / source / "translations_en.parquet").glob("*/*.parquet")
        assert set(pd.read_parquet(translations)["backend"]) == {"precomputed"}
        loading = latest_json(project, target, "fusion_training_summary")["knowledge_loading"]
        skipped = " ".join(loading["skipped"])
        assert loading["loaded"] > 0 and "v." in skipped and "a." in skipped, "feature sizes differ across the transfer"
        assert not any(key.startswith("t.") for key in loading["skipped"]), "text transfers whole"
    [report] = (project / "data" / "08_reporting" / "paper_comparison.md").glob("*/paper_comparison.md")
    sections = report.read_text().split("\n## ")[1:]
    assert [section.splitlines()[0] for section in sections] == list(PAPER_DATASETS)
    assert "| Acc7 | 52.89 |" in sections[3], "MOSEI's Acc-7 beside the paper's"
