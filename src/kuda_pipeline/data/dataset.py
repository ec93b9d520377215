"""Torch access to split arrays: a map-style dataset that reads whole batches, and its loader."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from kuda_pipeline.data.contract import FEATURE_KEYS, LABEL_KEY, LENGTH_KEYS, TEXT_KEY, UNIMODAL_LABEL_KEYS
from kuda_pipeline.data.length_grouping import LengthGroupedBatchSampler, sample_lengths

_REQUIRED_KEYS = (TEXT_KEY, *FEATURE_KEYS, *LENGTH_KEYS.values(), LABEL_KEY)


def padding_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_length) bool mask, True on the first `length` (valid) steps."""
    return torch.arange(max_length, device=lengths.device) < lengths[:, None]


@dataclass
class Batch:
    """A batch of samples; shapes as in the data contract."""

    text: torch.Tensor  # (B, 3, L_t) int64: token ids, attention mask, segment ids
    vision: torch.Tensor  # (B, L_v, D_v) float32
    vision_mask: torch.Tensor  # (B, L_v) bool, True = valid step
    audio: torch.Tensor  # (B, L_a, D_a) float32
    audio_mask: torch.Tensor  # (B, L_a) bool
    label: torch.Tensor  # (B,) float32
    index: torch.Tensor  # (B,) int64 row numbers in the split
    unimodal_labels: dict[str, torch.Tensor] = field(default_factory=dict)  # "t"/"v"/"a" -> (B,)

    def __len__(self) -> int:
        return self.label.shape[0]

    def pin_memory(self) -> "Batch":
        """A copy in pinned memory (DataLoader's `pin_memory=True` calls it)."""
        return Batch(**{name: value.pin_memory() for name, value in vars(self).items() if name != "unimodal_labels"},
                     unimodal_labels={m: y.pin_memory() for m, y in self.unimodal_labels.items()})

    @property
    def inputs(self) -> dict[str, torch.Tensor]:
        """The model inputs by name, as `KuDA.forward` takes them (without the label)."""
        return {"text": self.text, "vision": self.vision, "vision_mask": self.vision_mask,
                "audio": self.audio, "audio_mask": self.audio_mask}

    def to(self, device: torch.device | str) -> "Batch":
        """A copy of the batch on `device` (non-blocking copies)."""
        return Batch(
            text=self.text.to(device, non_blocking=True),
            vision=self.vision.to(device, non_blocking=True),
            vision_mask=self.vision_mask.to(device, non_blocking=True),
            audio=self.audio.to(device, non_blocking=True),
            audio_mask=self.audio_mask.to(device, non_blocking=True),
            label=self.label.to(device, non_blocking=True),
            index=self.index.to(device, non_blocking=True),
            unimodal_labels={m: y.to(device, non_blocking=True) for m, y in self.unimodal_labels.items()},
        )


class MultimodalDataset(Dataset):
    """Split arrays (typically memory-mapped) served as `Batch` objects, one read per key and batch."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        missing = [key for key in _REQUIRED_KEYS if key not in arrays]
        if missing:
            raise ValueError(f"split arrays lack key(s) {missing}; found {sorted(arrays)}")
        sizes = {key: len(arrays[key]) for key in (*_REQUIRED_KEYS, *UNIMODAL_LABEL_KEYS.values()) if key in arrays}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"split arrays disagree on the number of samples: {sizes}")
        self.arrays = arrays
        self._size = sizes[LABEL_KEY]

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: int) -> Batch:
        """Sample `index` as a batch of one."""
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        """Rows `indices` (in that order), read in ascending order for locality."""
        index = np.asarray(indices, dtype=np.int64)
        order = np.argsort(index, kind="stable")
        ascending = index[order]
        restore = torch.from_numpy(np.argsort(order, kind="stable"))

        def rows(key: str) -> torch.Tensor:
            return torch.from_numpy(np.asarray(self.arrays[key][ascending]))[restore]

        vision, audio = rows("vision"), rows("audio")
        return Batch(
            text=rows(TEXT_KEY).long(),
            vision=vision.float(),
            vision_mask=padding_mask(rows(LENGTH_KEYS["vision"]), vision.shape[1]),
            audio=audio.float(),
            audio_mask=padding_mask(rows(LENGTH_KEYS["audio"]), audio.shape[1]),
            label=rows(LABEL_KEY).float(),
            index=torch.from_numpy(index),
            unimodal_labels={m: rows(key).float() for m, key in UNIMODAL_LABEL_KEYS.items() if key in self.arrays},
        )


def keep_batch(batch: Batch) -> Batch:
    """Collate function for a dataset that already returns whole batches."""
    return batch


def make_loader(
    arrays: Mapping[str, np.ndarray],
    batch_size: int,
    shuffle: bool,
    seed: int,
    drop_last: bool = False,
    group_by_length: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader yielding `Batch` objects; with `shuffle`, the order depends only on `seed`.

    `group_by_length` (with `shuffle`): batches of samples of similar length (`LengthGroupedBatchSampler`).
    `num_workers` > 0 reads batches in worker processes; `pin_memory` pins them for fast copies to CUDA.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dataset = MultimodalDataset(arrays)
    generator = torch.Generator().manual_seed(seed)
    if shuffle and group_by_length:
        batch_sampler = LengthGroupedBatchSampler(sample_lengths(arrays), batch_size, generator, drop_last)
    else:
        sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        batch_sampler = BatchSampler(sampler, batch_size, drop_last)
    return DataLoader(
        dataset, batch_sampler=batch_sampler, collate_fn=keep_batch, num_workers=num_workers,
        pin_memory=pin_memory, persistent_workers=num_workers > 0,
    )
