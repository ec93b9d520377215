"""`kedro run` under torchrun: ranks other than 0 keep their outputs in memory and track nothing."""

import json

import pytest
from kedro.io import MemoryDataset
from kedro_datasets.json import JSONDataset

from kuda_pipeline.data.mmsa import RawMMSA
from kuda_pipeline.datasets import MMSAPickleDataset
from kuda_pipeline.distributed_run import ProcessGroupHooks, RankZeroCatalog, on_rank_zero, plugins_off_rank_zero


@pytest.fixture()
def catalog(tmp_path) -> RankZeroCatalog:
    return RankZeroCatalog(datasets={"summary": JSONDataset(filepath=str(tmp_path / "summary.json")),
                                     "raw": MemoryDataset({"rows": 3})})


def test_rank_0_writes_like_a_plain_catalog(catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    catalog.save("summary", {"best_epoch": 2})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"best_epoch": 2}
    assert on_rank_zero("hook") == ("hook",) and plugins_off_rank_zero() == ()


def test_other_ranks_keep_outputs_in_memory_and_write_nothing(catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    catalog.save("summary", {"best_epoch": 2})
    assert not (tmp_path / "summary.json").exists()
    assert catalog.exists("summary") and catalog.load("summary") == {"best_epoch": 2}
    assert catalog.load("raw") == {"rows": 3}  # inputs nobody saved still come from their dataset
    catalog.release("summary")
    assert not catalog.exists("summary")
    assert on_rank_zero("hook") == () and plugins_off_rank_zero() == ("kedro_mlflow", "kedro-mlflow")


def test_other_ranks_load_what_the_dataset_would_have_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    catalog = RankZeroCatalog(datasets={"raw_mmsa": MMSAPickleDataset(filepath=str(tmp_path / "unaligned_39.pkl"))})
    catalog.save("raw_mmsa", {"train": {}})
    assert catalog.load("raw_mmsa") == RawMMSA(source=str(tmp_path / "unaligned_39.pkl"), content={"train": {}})
    assert not (tmp_path / "unaligned_39.pkl").exists()


@pytest.mark.parametrize(("rank", "says"), [("0", "rank 0 of 2: writes the catalog datasets, checkpoints and the "
                                                   "MLflow run"),
                                            ("1", "rank 1 of 2: writes nothing")])
def test_each_rank_says_what_it_writes(rank, says, monkeypatch, caplog):
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with caplog.at_level("INFO", logger="kuda_pipeline.distributed_run"):
        ProcessGroupHooks().before_pipeline_run()
    assert says in caplog.text
