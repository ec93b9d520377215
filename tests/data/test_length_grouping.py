"""Length-grouped batches: every index once, reproducible from the seed, reshuffled per epoch, homogeneous."""

import numpy as np
import pytest
import torch

from kuda_pipeline.data.dataset import make_loader
from kuda_pipeline.data.length_grouping import LengthGroupedBatchSampler, sample_lengths
from kuda_pipeline.training.config import TrainConfig

N = 1000


def _lengths(seed=0):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0, 3, N))


def _sampler(seed=0, batch_size=8, drop_last=False, mega_batches=10):
    return LengthGroupedBatchSampler(_lengths(), batch_size, torch.Generator().manual_seed(seed), drop_last,
                                     mega_batches)


@pytest.mark.parametrize("batch_size", [8, 7])  # 1000 = 125 * 8; 1000 = 142 * 7 + 6
def test_every_index_exactly_once_per_epoch(batch_size):
    sampler = _sampler(batch_size=batch_size)
    for _ in range(2):
        batches = list(sampler)
        assert len(batches) == len(sampler) == -(-N // batch_size)
        assert sorted(i for batch in batches for i in batch) == list(range(N))
        assert sum(len(batch) < batch_size for batch in batches) == (N % batch_size != 0)


def test_drop_last_leaves_out_the_one_short_batch():
    sampler = _sampler(batch_size=7, drop_last=True)
    batches = list(sampler)
    assert len(batches) == len(sampler) == N // 7 and all(len(batch) == 7 for batch in batches)
    assert len({i for batch in batches for i in batch}) == N - N % 7


def test_reproducible_from_the_seed_and_reshuffled_every_epoch():
    first, again, other = _sampler(seed=1), _sampler(seed=1), _sampler(seed=2)
    epoch_1, epoch_2 = list(first), list(first)
    assert list(again) == epoch_1 and list(again) == epoch_2
    assert epoch_1 != epoch_2 and list(other) != epoch_1


def test_batches_are_length_homogeneous():
    """Mean within-batch range of the key: random batches of 8 from U(0, 3) span ~2.3; grouped ones far less."""
    lengths = _lengths()
    grouped = np.mean([float(lengths[b].max() - lengths[b].min()) for b in _sampler()])
    shuffled = torch.randperm(N, generator=torch.Generator().manual_seed(0)).split(8)
    random = np.mean([float(lengths[b].max() - lengths[b].min()) for b in shuffled])
    # a sorted bucket of 80 keys from U(0, 3) has gaps of ~3 / 81; a batch of 8 spans 7 gaps: ~0.26
    assert random > 2.0 and grouped < 0.35


def _arrays():
    rng = np.random.default_rng(0)
    n, l_t = 40, 6
    text_valid = np.arange(l_t) < rng.integers(1, l_t + 1, n)[:, None]
    return {
        "text_bert": np.stack([text_valid * 7, text_valid, np.zeros_like(text_valid)], axis=1).astype(np.int64),
        "vision": rng.standard_normal((n, 5, 3)).astype(np.float32),
        "audio": rng.standard_normal((n, 4, 2)).astype(np.float32),
        "vision_lengths": rng.integers(0, 6, n),
        "audio_lengths": rng.integers(0, 5, n),
        "label": np.zeros(n, dtype=np.float32),
    }


def test_sample_lengths_sum_the_valid_fractions_of_the_modalities():
    arrays = _arrays()
    key = sample_lengths(arrays)
    expected = arrays["text_bert"][:, 1].sum(1) / 6 + arrays["vision_lengths"] / 5 + arrays["audio_lengths"] / 4
    np.testing.assert_allclose(key.numpy(), expected)


def test_make_loader_groups_training_batches_only_when_asked():
    arrays = _arrays()
    grouped = make_loader(arrays, 4, shuffle=True, seed=0, group_by_length=True)
    assert isinstance(grouped.batch_sampler, LengthGroupedBatchSampler)
    assert sorted(int(i) for batch in grouped for i in batch.index) == list(range(40))
    assert not isinstance(make_loader(arrays, 4, shuffle=True, seed=0).batch_sampler, LengthGroupedBatchSampler)
    assert not isinstance(make_loader(arrays, 4, shuffle=False, seed=0, group_by_length=True).batch_sampler,
                          LengthGroupedBatchSampler)


def test_train_config_group_by_length_is_off_by_default_and_validated():
    assert TrainConfig(epochs=1, batch_size=2, learning_rate=1e-3).group_by_length is False
    with pytest.raises(ValueError, match="group_by_length"):
        TrainConfig(epochs=1, batch_size=2, learning_rate=1e-3, group_by_length="yes")
