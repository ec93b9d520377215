"""Content digests: equal for equal content in any key order, different for any change of value, dtype or shape."""

import numpy as np
import pandas as pd
import pytest
import torch

from kuda_pipeline.digest import content_digest


def test_equal_content_gives_equal_digests_whatever_the_key_order(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(12.0).reshape(3, 4))
    in_memory = {"train": {"x": np.arange(12.0).reshape(3, 4), "id": np.array(["a", "b"], dtype=object)}, "n": 3}
    mapped = {"n": 3, "train": {"id": np.array(["a", "b"], dtype=object), "x": np.load(path, mmap_mode="r")}}
    assert content_digest(in_memory) == content_digest(mapped)
    assert len(content_digest(in_memory)) == 32


@pytest.mark.parametrize("changed", [
    np.arange(12.0).reshape(4, 3),  # shape
    np.arange(12.0, dtype=np.float32).reshape(3, 4),  # dtype
    np.r_[np.arange(11.0), 99.0].reshape(3, 4),  # one value
])
def test_any_change_of_an_array_changes_the_digest(changed):
    assert content_digest(np.arange(12.0).reshape(3, 4)) != content_digest(changed)


def test_tensors_tables_and_scalars():
    weights = {"w": torch.ones(2, 3, dtype=torch.bfloat16), "b": torch.tensor(0.5)}
    assert content_digest(weights) == content_digest({"b": torch.tensor(0.5), "w": torch.ones(2, 3, dtype=torch.bfloat16)})
    assert content_digest(weights) != content_digest({**weights, "b": torch.tensor(0.25)})
    table = pd.DataFrame({"id": ["a", "b"], "text_en": ["x", "y"]})
    assert content_digest(table) == content_digest(table.copy())
    assert content_digest(table) != content_digest(table.assign(text_en=["x", "z"]))
    assert content_digest(1) != content_digest(1.0) != content_digest("1") != content_digest(True)
    with pytest.raises(TypeError, match="cannot digest a set"):
        content_digest({1, 2})
