"""Atomic checkpoint writes and weights-only loads."""

import pickle

import pytest
import torch

from kuda_pipeline.training.checkpoint import load_state, save_state


def test_round_trip_of_tensors_and_plain_values(tmp_path):
    path = tmp_path / "nested" / "state.pt"
    state = {"weights": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3, "history": [{"loss": 0.5}],
             "rng": (1, 2, 3), "gauss": None}
    save_state(path, state)
    loaded = load_state(path)
    assert torch.equal(loaded["weights"]["w"], state["weights"]["w"])
    assert (loaded["epoch"], loaded["history"], loaded["rng"], loaded["gauss"]) == (3, [{"loss": 0.5}], (1, 2, 3), None)
    assert [p.name for p in path.parent.iterdir()] == ["state.pt"]


def test_failed_save_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "state.pt"
    save_state(path, {"epoch": 1})
    with pytest.raises((AttributeError, pickle.PicklingError), match="Can't pickle"):  # a local lambda
        save_state(path, {"epoch": 2, "unpicklable": lambda: None})
    assert load_state(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


class Payload:
    """Stands for any class a pickle could instantiate (and run code through)."""


def test_arbitrary_objects_are_refused_with_the_file_name(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"payload": Payload()}, path)
    with pytest.raises(ValueError, match=rf"checkpoint {path} cannot be loaded with weights_only=True"):
        load_state(path)


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"checkpoint {tmp_path / 'absent.pt'} does not exist"):
        load_state(tmp_path / "absent.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=rf"checkpoint {corrupt} cannot be loaded"):
        load_state(corrupt)
