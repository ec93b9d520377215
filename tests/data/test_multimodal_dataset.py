"""Padding masks, batches read from split arrays, and reproducible loaders."""

import numpy as np
import pytest
import torch

from kuda_pipeline.data.dataset import Batch, MultimodalDataset, make_loader, padding_mask
from kuda_pipeline.data.split_arrays import load_split_arrays, save_split_arrays

N, L_T, L_V, D_V, L_A, D_A = 10, 6, 5, 3, 4, 2


def _arrays(unimodal=True):
    rng = np.random.default_rng(0)
    arrays = {
        "id": np.array([f"video_{i:04d}" for i in range(N)]),
        "text_bert": rng.integers(0, 100, size=(N, 3, L_T)),
        "vision": rng.standard_normal((N, L_V, D_V)).astype(np.float32),
        "audio": rng.standard_normal((N, L_A, D_A)).astype(np.float32),
        "vision_lengths": rng.integers(0, L_V + 1, size=N),
        "audio_lengths": rng.integers(0, L_A + 1, size=N),
        "label": np.linspace(-1, 1, N, dtype=np.float32),
    }
    if unimodal:
        arrays |= {f"label_{m}": rng.standard_normal(N).astype(np.float32) for m in "TVA"}
    return arrays


def test_padding_mask_matches_a_loop():
    lengths = torch.tensor([0, 7, 3, 1, 7, 5])
    expected = torch.tensor([[step < length for step in range(7)] for length in lengths.tolist()])
    mask = padding_mask(lengths, 7)
    assert mask.dtype == torch.bool and mask.shape == (6, 7)
    assert torch.equal(mask, expected)


def test_batch_has_the_contract_shapes_and_dtypes():
    batch = MultimodalDataset(_arrays()).__getitems__([0, 3, 4])
    assert isinstance(batch, Batch) and len(batch) == 3
    assert batch.text.dtype == torch.int64 and batch.text.shape == (3, 3, L_T)
    assert batch.vision.dtype == torch.float32 and batch.vision.shape == (3, L_V, D_V)
    assert batch.audio.dtype == torch.float32 and batch.audio.shape == (3, L_A, D_A)
    assert batch.vision_mask.dtype == torch.bool and batch.vision_mask.shape == (3, L_V)
    assert batch.audio_mask.shape == (3, L_A) and batch.label.shape == (3,)
    assert sorted(batch.unimodal_labels) == ["a", "t", "v"] and batch.unimodal_labels["v"].shape == (3,)
    assert batch.index.dtype == torch.int64


def test_unsorted_indices_keep_their_order():
    arrays = _arrays()
    indices = [7, 2, 9, 2, 0]
    batch = MultimodalDataset(arrays).__getitems__(indices)
    assert batch.index.tolist() == indices
    np.testing.assert_array_equal(batch.text.numpy(), arrays["text_bert"][indices])
    np.testing.assert_array_equal(batch.audio.numpy(), arrays["audio"][indices])
    np.testing.assert_array_equal(batch.label.numpy(), arrays["label"][indices])
    np.testing.assert_array_equal(batch.unimodal_labels["t"].numpy(), arrays["label_T"][indices])
    assert batch.vision_mask.sum(dim=1).tolist() == arrays["vision_lengths"][indices].tolist()


def test_single_item_is_a_batch_of_one():
    item = MultimodalDataset(_arrays(unimodal=False))[4]
    assert len(item) == 1 and item.index.tolist() == [4] and item.unimodal_labels == {}


def test_batch_moves_to_a_device():
    batch = MultimodalDataset(_arrays()).__getitems__([1, 2]).to("cpu")
    assert batch.vision.device.type == "cpu" and batch.unimodal_labels["a"].device.type == "cpu"


def test_same_seed_gives_the_same_order():
    orders = [
        [batch.index.tolist() for batch in make_loader(_arrays(), batch_size=4, shuffle=True, seed=seed)]
        for seed in (3, 3, 4)
    ]
    assert orders[0] == orders[1] and orders[0] != orders[2]
    assert sorted(sum(orders[0], [])) == list(range(N)) and [len(b) for b in orders[0]] == [4, 4, 2]


def test_loader_reads_memory_mapped_arrays_in_order(tmp_path):
    save_split_arrays(tmp_path / "arrays", {"train": _arrays()})
    loader = make_loader(load_split_arrays(tmp_path / "arrays")["train"], batch_size=4, shuffle=False, seed=0,
                         drop_last=True)
    batches = list(loader)
    assert [batch.index.tolist() for batch in batches] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    np.testing.assert_array_equal(batches[1].vision.numpy(), _arrays()["vision"][4:8])


def test_missing_keys_and_inconsistent_sizes_are_refused():
    arrays = _arrays()
    del arrays["audio"]
    with pytest.raises(ValueError, match=r"lack key\(s\) \['audio'\]"):
        MultimodalDataset(arrays)
    arrays = _arrays()
    arrays["label_V"] = arrays["label_V"][:3]
    with pytest.raises(ValueError, match=r"disagree on the number of samples: .*'label_V': 3"):
        MultimodalDataset(arrays)
