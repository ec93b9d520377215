"""Data-parallel training under torchrun: the process group, sharded loaders, the DDP wrapper, cross-rank reductions.

One process per device; torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous variables. Without them (or
with WORLD_SIZE=1) every function here is the identity of single-process training. Batch sizes in the settings are
GLOBAL: each rank takes ``batch_size / world_size`` samples per step, so one optimiser step sees the same samples,
and (with the gradient averaged over ranks) the same gradient, as one process with the whole batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, Sampler

from kuda_pipeline.data.dataset import MultimodalDataset, keep_batch
from kuda_pipeline.training.loop import EpochResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topology:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes (catalog datasets, checkpoints, MLflow)."""
        return self.rank == 0


def is_main_process() -> bool:
    """Rank 0 of the process group, or of the launch (torchrun's RANK) before the group is joined."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return launched_rank() == 0


def launched_rank() -> int:
    """This process's rank as torchrun numbered it (RANK), 0 outside torchrun."""
    return int(os.environ.get("RANK", "0"))


def launched_world_size() -> int:
    """The number of processes torchrun started (WORLD_SIZE), 1 outside torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def join_process_group(device: torch.device) -> Topology:
    """Join the process group torchrun describes (once; ``nccl`` for CUDA, ``gloo`` for CPU) and return the topology.

    On CUDA each process uses the GPU of its LOCAL_RANK (``torch.cuda.set_device``), so "cuda" means that GPU.
    """
    if launched_world_size() > 1 and not dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
        logger.info("joined the %s process group: rank %d of %d", backend, dist.get_rank(), dist.get_world_size())
    return current_topology()


def current_topology() -> Topology:
    """The joined process group's topology, or a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return Topology()
    return Topology(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def leave_process_group() -> None:
    """Destroy the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device, topology: Topology) -> torch.device:
    """A CUDA device without an index becomes this rank's GPU (LOCAL_RANK); other devices are kept."""
    if topology.distributed and device.type == "cuda" and device.index is None:
        return torch.device("cuda", topology.local_rank)
    return device


def per_rank_batch_size(global_batch_size: int, topology: Topology) -> int:
    """``global_batch_size / world_size``; ValueError when it does not divide."""
    if global_batch_size % topology.world_size:
        raise ValueError(
            f"batch_size={global_batch_size} is the GLOBAL batch and must be divisible by the number of training "
            f"processes ({topology.world_size}): choose a multiple of {topology.world_size}"
        )
    return global_batch_size // topology.world_size


class BatchShard(Sampler[list[int]]):
    """Inference shard of one rank: global batches rank, rank + W, rank + 2W, ... of the sequential order, each
    whole, so every batch-level quantity (the contrastive loss) is that of one process."""

    def __init__(self, size: int, global_batch_size: int, topology: Topology) -> None:
        batches = BatchSampler(range(size), global_batch_size, drop_last=False)
        self.batches = list(batches)[topology.rank::topology.world_size]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def rows(self) -> list[int]:
        """The rows of the shard, in the order its predictions come out."""
        return [row for batch in self.batches for row in batch]


def sharded_loaders(train: Mapping[str, np.ndarray], valid: Mapping[str, np.ndarray], global_batch_size: int,
                    seed: int, topology: Topology) -> tuple[DataLoader, DataLoader]:
    """This rank's training loader (``DistributedSampler``: one permutation per epoch from ``seed + epoch``, call
    :func:`set_epoch`; ``global_batch_size / world_size`` rows a step) and validation loader (:class:`BatchShard`,
    put back together by :func:`evaluate_shard`)."""
    batch_size = per_rank_batch_size(global_batch_size, topology)
    train_set, valid_set = MultimodalDataset(train), MultimodalDataset(valid)
    train_sampler = DistributedSampler(train_set, topology.world_size, topology.rank, shuffle=True, seed=seed)
    return (
        DataLoader(train_set, batch_sampler=BatchSampler(train_sampler, batch_size, False), collate_fn=keep_batch),
        DataLoader(valid_set, batch_sampler=BatchShard(len(valid_set), global_batch_size, topology),
                   collate_fn=keep_batch),
    )


def set_epoch(loader: Any, epoch: int) -> None:
    """Tell a ``DistributedSampler`` (if the loader has one) which epoch's permutation to draw."""
    sampler = getattr(getattr(loader, "batch_sampler", None), "sampler", None) or getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)


class DataParallelModel(DistributedDataParallel):
    """DDP that hands attribute look-ups it does not know (``config``, ``modality``...) to the wrapped model, so
    step functions take the wrapped and the plain model alike; the forward still goes through DDP."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap_model(model: nn.Module, device: torch.device, topology: Topology) -> nn.Module:
    """The model DDP-wrapped for training (the model itself for one process).

    DDP registers only parameters with ``requires_grad``, so frozen parts (stage-2 adapters and decoders) are never
    synchronised. ``find_unused_parameters``: some trainable parameters take no part in the loss (BERT's pooler,
    whose output KuDA does not use), and DDP must mark them ready itself; it finds them from the output's tensors,
    which it looks up inside dataclasses (``static_graph`` does not, and would skip the first step's all-reduce).
    """
    if not topology.distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DataParallelModel(model, device_ids=device_ids, find_unused_parameters=True)


def reduce_epoch(result: EpochResult, topology: Topology) -> EpochResult:
    """A training epoch's loss and loss parts as sample-weighted means over every rank (predictions stay local)."""
    if not topology.distributed:
        return result
    names = sorted(result.parts)
    samples = len(next(iter(result.targets.values())))
    sums = torch.tensor([result.loss * samples, *(result.parts[name] * samples for name in names), samples],
                        dtype=torch.float64)
    sums = _to_backend(sums)
    dist.all_reduce(sums)
    sums = sums.cpu()
    total = sums[-1].item()
    return EpochResult(loss=sums[0].item() / total, parts={n: sums[i + 1].item() / total for i, n in enumerate(names)},
                       predictions=result.predictions, targets=result.targets)


def evaluate_shard(run: Callable[[], EpochResult], loader: Any, topology: Topology) -> EpochResult:
    """``run()`` (an inference epoch over ``loader``) on every rank's :class:`BatchShard`, put back together on every
    rank: predictions and targets in row order, sample-weighted loss and parts. A rank without a batch contributes
    nothing."""
    if not topology.distributed:
        return run()
    shard = loader.batch_sampler
    local = run() if len(shard) else None
    shards = [(rows, result) for rows, result in gather_objects((shard.rows(), local), topology) if result]
    counts = [len(rows) for rows, _ in shards]
    order = np.concatenate([np.asarray(rows) for rows, _ in shards])
    total = sum(counts)

    def weighted(values: Sequence[float]) -> float:
        return sum(value * count for value, count in zip(values, counts)) / total

    def joined(arrays: Sequence[np.ndarray]) -> np.ndarray:
        values = np.empty(total, dtype=arrays[0].dtype)
        values[order] = np.concatenate(arrays)
        return values

    results = [result for _, result in shards]
    first = results[0]
    return EpochResult(
        loss=weighted([result.loss for result in results]),
        parts={name: weighted([result.parts[name] for result in results]) for name in first.parts},
        predictions={name: joined([result.predictions[name] for result in results]) for name in first.predictions},
        targets={name: joined([result.targets[name] for result in results]) for name in first.targets},
    )


def gather_objects(value: Any, topology: Topology) -> list[Any]:
    """Every rank's ``value``, in rank order (picklable values; a one-item list for one process)."""
    if not topology.distributed:
        return [value]
    values: list[Any] = [None] * topology.world_size
    dist.all_gather_object(values, value)
    return values


def _to_backend(tensor: torch.Tensor) -> torch.Tensor:
    """NCCL reduces CUDA tensors only."""
    if dist.get_backend() == "nccl":
        return tensor.cuda()
    return tensor
