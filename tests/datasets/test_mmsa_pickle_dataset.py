"""The MMSA pickle dataset: loads with its file path, and every failure is one DatasetError line naming the file."""

import pickle

import numpy as np
import pytest
from kedro.io import DatasetError

from kuda_pipeline.data.mmsa import RawMMSA
from kuda_pipeline.datasets import MMSAPickleDataset
from kuda_pipeline.datasets import mmsa_pickle_dataset


def test_load_carries_the_catalog_file_path(tmp_path):
    path = tmp_path / "sims" / "unaligned_39.pkl"
    MMSAPickleDataset(str(path)).save({"train": {"vision": np.ones((2, 3), np.float32)}})
    loaded = MMSAPickleDataset(str(path)).load()
    assert isinstance(loaded, RawMMSA) and loaded.source == str(path)
    np.testing.assert_array_equal(loaded.content["train"]["vision"], np.ones((2, 3), np.float32))


def test_missing_file_names_the_path_and_the_hint(tmp_path):
    dataset = MMSAPickleDataset(str(tmp_path / "mosi.pkl"), source_hint="Download it from MMSA.")
    with pytest.raises(DatasetError, match=r"MMSA pickle not found: .*mosi\.pkl\. Put the processed file there\. "
                                           r"Download it from MMSA\.$"):
        dataset.load()


def test_an_unreadable_pickle_is_one_line(tmp_path):
    path = tmp_path / "sims.pkl"
    path.write_bytes(pickle.dumps(list(range(100)), protocol=4)[:20])
    with pytest.raises(DatasetError, match=rf"^{path}: the pickle is truncated: its data stops after 20 bytes"):
        MMSAPickleDataset(str(path)).load()


def test_an_os_error_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "sims.pkl"
    path.write_bytes(b"\x80\x04N.")

    def unreadable(_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(mmsa_pickle_dataset, "load_untrusted_pickle", unreadable)
    with pytest.raises(DatasetError, match=rf"^{path}: cannot read the file: Permission denied$"):
        MMSAPickleDataset(str(path)).load()
