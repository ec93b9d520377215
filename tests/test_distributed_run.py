"""`kedro run` under torchrun: ranks other than 0 keep their outputs in memory and track nothing."""

import json

import pytest
from kedro.io import MemoryDataset
from kedro_datasets.json import JSONDataset

from kuda_pipeline.distributed_run import RankZeroCatalog, on_rank_zero, plugins_off_rank_zero


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
