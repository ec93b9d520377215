"""Every file of the hostile corpus through the real catalog dataset and ingestion node: rejected in one line
naming the file (and split and key), with nothing written under data/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hostile_corpus import HOSTILE, valid_mmsa
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError
from kedro.runner import SequentialRunner
from project_copy import copy_project

from kuda_pipeline.data.mmsa import MMSAFormatError
from kuda_pipeline.data.synthetic import write_mmsa_pickle
from kuda_pipeline.pipeline_registry import register_pipelines

RAW_FILE = Path("data/01_raw/synthetic_sims/unaligned_39.pkl")  # the catalog's synthetic_sims.raw_mmsa
NODE = "synthetic_sims.ingest_raw_dataset"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("hostile") / "project")
    bootstrap_project(project)
    return project


@pytest.fixture
def context(project, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    shutil.rmtree(project / "data", ignore_errors=True)
    with KedroSession.create(project_path=project) as session:
        yield session.load_context()


def _ingest(context) -> None:
    pipeline = register_pipelines()["ingestion"].only_nodes(NODE)
    SequentialRunner().run(pipeline, context.catalog)


def _files_under_data(project: Path) -> list[Path]:
    return sorted(path.relative_to(project) for path in (project / "data").rglob("*") if path.is_file())


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_is_rejected_naming_file_split_and_key(name, project, context):
    case = HOSTILE[name]
    (project / RAW_FILE).parent.mkdir(parents=True)
    (project / RAW_FILE).write_bytes(case.build())

    with pytest.raises((DatasetError, MMSAFormatError), match=case.match) as error:
        _ingest(context)

    message = str(error.value)
    assert "\n" not in message.strip(), f"one line expected, got {message!r}"
    assert str(project / RAW_FILE) in message, "the catalog's real file path is named"
    if case.split is not None:
        assert f"split '{case.split}', key '{case.key}'" in message
    assert _files_under_data(project) == [RAW_FILE], "nothing may be written after a rejection"


def test_the_valid_base_of_the_corpus_is_ingested(project, context):
    write_mmsa_pickle(valid_mmsa(), project / RAW_FILE)

    _ingest(context)

    written = {path.name for path in _files_under_data(project)}
    assert {"samples.parquet", "ingestion_report.json", "text_bert.npy"} <= written
    report = context.catalog.load("synthetic_sims.ingestion_report")
    assert report["source"] == str(project / RAW_FILE)
    assert report["token_limits"] == {"vocab_size": 30522, "type_vocab_size": 2, "max_positions": 512,
                                      "pad_token_id": 0}


def test_a_missing_file_names_the_path_to_fill(project, context):
    with pytest.raises(DatasetError, match=rf"MMSA pickle not found: {re.escape(str(project / RAW_FILE))}\. Put"):
        _ingest(context)
