"""Every file of the hostile corpus through the real catalog dataset and ingestion node: rejected in one line
naming the file (and split and key), with nothing written under data/."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_corpus import HOSTILE, valid_mmsa
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, DatasetError
from kedro.runner import SequentialRunner

from kuda_pipeline.data.mmsa import MMSAFormatError
from kuda_pipeline.data.safe_pickle import write_mmsa_pickle
from kuda_pipeline.pipeline_registry import register_pipelines

CONF = Path(__file__).resolve().parents[2] / "conf"
RAW_FILE = Path("data/01_raw/synthetic_sims/unaligned_39.pkl")  # the catalog's synthetic_sims.raw_mmsa
NODE = "synthetic_sims.ingest_raw_dataset"


@pytest.fixture(scope="module")
def config() -> dict:
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env="base")
    return {"catalog": loader["catalog"], "parameters": loader["parameters"]}


@pytest.fixture
def catalog(config, tmp_path, monkeypatch) -> DataCatalog:
    """The project's catalog and parameters, its relative paths under ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    catalog = DataCatalog.from_config(config["catalog"])
    for name in ("text_encoder", "ingestion"):
        catalog[f"params:synthetic_sims.{name}"] = config["parameters"]["synthetic_sims"][name]
    return catalog


def _ingest(catalog: DataCatalog) -> None:
    SequentialRunner().run(register_pipelines()["ingestion"].only_nodes(NODE), catalog)


def _files_under_data() -> list[Path]:
    return sorted(path for path in Path("data").rglob("*") if path.is_file())


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_is_rejected_naming_file_split_and_key(name, catalog):
    case = HOSTILE[name]
    RAW_FILE.parent.mkdir(parents=True)
    RAW_FILE.write_bytes(case.build())

    with pytest.raises((DatasetError, MMSAFormatError), match=case.match) as error:
        _ingest(catalog)

    message = str(error.value)
    assert "\n" not in message.strip(), f"one line expected, got {message!r}"
    assert str(RAW_FILE) in message, "the catalog's file path is named"
    if case.split is not None:
        assert f"split '{case.split}', key '{case.key}'" in message
    assert _files_under_data() == [RAW_FILE], "nothing may be written after a rejection"


def test_the_valid_base_of_the_corpus_is_ingested(catalog):
    write_mmsa_pickle(valid_mmsa(), RAW_FILE)

    _ingest(catalog)

    written = {path.name for path in _files_under_data()}
    assert {"samples.parquet", "ingestion_report.json", "text_bert.npy"} <= written
    report = catalog.load("synthetic_sims.ingestion_report")
    assert report["source"] == str(RAW_FILE)
    assert report["token_limits"] == {"vocab_size": 30522, "type_vocab_size": 2, "max_positions": 512,
                                      "pad_token_id": 0}


def test_a_missing_file_names_the_path_to_fill(catalog):
    with pytest.raises(DatasetError, match=rf"MMSA pickle not found: {RAW_FILE}\. Put the processed file there"):
        _ingest(catalog)
