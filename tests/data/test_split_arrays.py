"""Atomic writing and memory-mapped reading of split arrays."""

import numpy as np
import pytest

from kuda_pipeline.data.split_arrays import load_split_arrays, save_split_arrays


def _splits():
    rng = np.random.default_rng(0)
    return {
        split: {
            "id": np.array([f"{split}_{i}" for i in range(n)]),
            "vision": rng.standard_normal((n, 4, 3)).astype(np.float32),
            "vision_lengths": rng.integers(0, 5, size=n),
        }
        for split, n in (("train", 5), ("valid", 2), ("test", 3))
    }


def test_round_trip_is_memory_mapped(tmp_path):
    splits = _splits()
    save_split_arrays(tmp_path / "arrays", splits)
    loaded = load_split_arrays(tmp_path / "arrays")
    assert list(loaded) == ["train", "valid", "test"]
    for split, arrays in splits.items():
        assert sorted(loaded[split]) == ["id", "vision", "vision_lengths"]
        for key, array in arrays.items():
            assert isinstance(loaded[split][key], np.memmap) and loaded[split][key].mode == "r"
            assert loaded[split][key].dtype == array.dtype
            np.testing.assert_array_equal(loaded[split][key], array)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["arrays"]


def test_failure_leaves_nothing_behind(tmp_path):
    splits = _splits()
    splits["test"]["raw_text"] = np.array(["a", "b", "c"], dtype=object)
    with pytest.raises(ValueError, match=r"split 'test', key 'raw_text': object arrays cannot be saved"):
        save_split_arrays(tmp_path / "arrays", splits)
    assert not (tmp_path / "arrays").exists()
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_arrays(tmp_path):
    save_split_arrays(tmp_path / "arrays", _splits())
    broken = _splits()
    broken["valid"]["vision"] = np.array([object()] * 2)
    with pytest.raises(ValueError, match="object arrays"):
        save_split_arrays(tmp_path / "arrays", broken)
    previous = load_split_arrays(tmp_path / "arrays")["valid"]["vision"]
    np.testing.assert_array_equal(previous, _splits()["valid"]["vision"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["arrays"]


def test_saving_again_replaces_the_directory(tmp_path):
    save_split_arrays(tmp_path / "arrays", _splits())
    save_split_arrays(tmp_path / "arrays", {"train": {"label": np.arange(3, dtype=np.float32)}})
    loaded = load_split_arrays(tmp_path / "arrays")
    assert list(loaded) == ["train"] and list(loaded["train"]) == ["label"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["arrays"]


def test_loading_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'absent'} does not exist"):
        load_split_arrays(tmp_path / "absent")


def test_loading_an_empty_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} holds no <split>/<key>.npy files"):
        load_split_arrays(tmp_path)
