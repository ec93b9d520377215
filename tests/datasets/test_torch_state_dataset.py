"""The versioned torch state dataset writes through the atomic helper and loads weights only."""

import pytest
import torch
from kedro.io import DatasetError, Version

from kuda_pipeline.datasets.torch_state_dataset import TorchStateDataset


def test_round_trip_and_a_failed_save_leaves_no_temporary(tmp_path):
    dataset = TorchStateDataset(str(tmp_path / "state.pt"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    dataset.save({"w": torch.arange(3.0), "epoch": 2})
    loaded = dataset.load()
    assert torch.equal(loaded["w"], torch.arange(3.0)) and loaded["epoch"] == 2
    with pytest.raises(DatasetError, match="Can't pickle local object"):
        TorchStateDataset(str(tmp_path / "other.pt")).save({"unpicklable": lambda: None})
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "state.pt/2026-01-01T00.00.00.000Z/state.pt"
    ]
