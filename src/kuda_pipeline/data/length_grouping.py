"""Length-grouped batches (Hugging Face's `group_by_length`): samples of similar length share a batch.

With padding trimming (`model.trimming`) a batch costs what its longest sample costs, so batches of
similar lengths cost less than random ones. It changes which samples share a batch (and so the
training trajectory), hence an option, off by default.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch.utils.data import Sampler

from kuda_pipeline.data.contract import LENGTH_KEYS, TEXT_KEY


def sample_lengths(arrays: Mapping[str, np.ndarray]) -> torch.Tensor:
    """(N,) grouping key of every sample: the sum over modalities of its valid length over the padded length.

    Text: the BERT attention mask's valid tokens; vision/audio: `*_lengths`. The three grow together in
    real data (one utterance), so one number orders the samples for all modalities.
    """
    text_mask = np.asarray(arrays[TEXT_KEY][:, 1])  # (N, L_t)
    key = (text_mask != 0).sum(axis=1) / text_mask.shape[1]
    for feature_key, length_key in LENGTH_KEYS.items():
        key = key + np.asarray(arrays[length_key]) / arrays[feature_key].shape[1]
    return torch.from_numpy(np.asarray(key, dtype=np.float64))


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Each epoch: a random permutation cut into mega-buckets of `mega_batches` batches, each bucket sorted by
    length (longest first) and cut into batches, then the batches shuffled.

    Every index appears exactly once per epoch; with `drop_last` the one short batch is left out. All
    randomness comes from `generator` (a new draw each epoch), so runs are reproducible from its seed
    and resumable from its state.
    """

    def __init__(
        self,
        lengths: torch.Tensor,
        batch_size: int,
        generator: torch.Generator,
        drop_last: bool = False,
        mega_batches: int = 50,
    ) -> None:
        if batch_size < 1 or mega_batches < 1:
            raise ValueError(f"batch_size and mega_batches must be >= 1, got {batch_size} and {mega_batches}")
        self.lengths = lengths  # (N,)
        self.batch_size = batch_size
        self.generator = generator
        self.drop_last = drop_last
        self.mega_batches = mega_batches

    def __len__(self) -> int:
        count = len(self.lengths) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.lengths), generator=self.generator)
        bucket_size = self.batch_size * self.mega_batches
        batches = []
        for bucket in order.split(bucket_size):
            longest_first = bucket[torch.argsort(self.lengths[bucket], descending=True, stable=True)]
            batches += longest_first.split(self.batch_size)
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        for position in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[position].tolist()
