"""`fit`: epochs of training and validation, best-epoch selection, resumable checkpoints."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kuda_pipeline.training.checkpoint import load_state, save_state
from kuda_pipeline.training import distributed
from kuda_pipeline.training.config import TrainConfig, training_identity
from kuda_pipeline.training.device import resolve_device, resolve_precision
from kuda_pipeline.training.loop import EpochResult, MetricFn, StepFn, run_epoch
from kuda_pipeline.training.schedule import build_warmup_cosine_schedule
from kuda_pipeline.training.seeding import capture_rng_state, restore_rng_state, seed_everything

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"

OptimizerFactory = Callable[[nn.Module, TrainConfig], torch.optim.Optimizer]


@dataclass(frozen=True)
class FitResult:
    """The best epoch's weights (CPU copies), its 1-based number, one history row per epoch, the last epoch run."""

    best_state_dict: dict[str, torch.Tensor]
    best_epoch: int
    history: list[dict[str, float]]
    last_epoch: int


@dataclass
class _Progress:
    """Everything about the run so far that a checkpoint must carry besides model/optimiser/scheduler."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    best_epoch: int = 0
    best_value: float | None = None


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters (frozen ones, e.g. stage-2 adapters, are left out).

    The fused kernel updates every tensor in one pass instead of a Python loop over ~500 parameters.
    """
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError(f"{type(model).__name__} has no parameter with requires_grad=True: nothing to train")
    return torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay,
                             betas=config.betas, fused=True)


def fit(
    model: nn.Module,
    train_loader: Iterable[Any],
    valid_loader: Iterable[Any],
    step_fn: StepFn,
    metric_fn: MetricFn,
    config: TrainConfig,
    checkpoint_dir: Path | None = None,
    optimizer_factory: OptimizerFactory | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    checkpoint_identity: Mapping[str, Any] | None = None,
) -> FitResult:
    """Train for `config.epochs` epochs, validating after each, and keep the best epoch's weights.

    Seeds every RNG with `config.seed`; the schedule is linear warm-up then cosine decay over
    `epochs` scheduler steps (`config.schedule_step="epoch"`, stepped after each training epoch) or
    `epochs * len(train_loader)` ("batch", stepped after each optimiser step). The best epoch is the one with the best
    `metric_fn(valid_result)[config.selection_metric]` (ties keep the earlier epoch, NaN never wins).
    With `checkpoint_dir`, `<checkpoint_dir>/last.pt` is rewritten atomically after every epoch;
    with `config.resume` and that file present, the run continues after its epoch exactly as if it
    had not stopped. A checkpoint records what it was trained with: `training_identity(config)` and
    `checkpoint_identity` (plain values from the caller: model settings, data digests); resuming one whose
    record differs raises `CheckpointMismatchError` naming each differing field, or starts afresh with
    `config.on_checkpoint_mismatch="restart"`. The last epoch's checkpoint is marked finished and is never
    resumed (a new run with `resume` then starts afresh). On return the model holds the LAST epoch's weights; load
    `best_state_dict` for the best ones.

    `on_epoch`, if given, receives each epoch's history row as soon as it is complete (e.g. a search reporting
    the validation metric).

    Under torchrun (see `training.distributed`) the model trains DDP-wrapped, losses and validation predictions are
    reduced over the ranks (every rank sees the same history and selects the same epoch) and only rank 0 writes
    the checkpoint, which carries every rank's RNG state.
    """
    topology = distributed.join_process_group(resolve_device(config.device))
    device = distributed.rank_device(resolve_device(config.device), topology)
    precision = resolve_precision(config.precision, device)
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    seed_everything(config.seed + topology.rank)  # rank 0 draws what one process draws; others their own dropout
    model.to(device)
    optimizer = (optimizer_factory or build_optimizer)(model, config)
    trained = distributed.wrap_model(model, device, topology)
    per_batch = config.schedule_step == "batch"
    total_steps = config.epochs * (len(train_loader) if per_batch else 1)
    scheduler = build_warmup_cosine_schedule(optimizer, total_steps, config.warmup_fraction)
    generators = _shuffling_generators(train_loader) + _shuffling_generators(valid_loader)
    checkpoint_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME

    identity = {"train": training_identity(config), **(checkpoint_identity or {})}
    progress = _Progress()
    if config.resume and checkpoint_path is not None and _checkpoint_found(checkpoint_path, topology):
        checkpoint = load_state(checkpoint_path)
        if _resumable(checkpoint, identity, checkpoint_path, config.on_checkpoint_mismatch):
            progress = _restore(checkpoint, model, optimizer, scheduler, generators, total_steps, topology)
            logger.info("resuming from %s after epoch %d of %d", checkpoint_path, progress.epoch, config.epochs)

    for epoch in range(progress.epoch + 1, config.epochs + 1):
        label = f"epoch {epoch}/{config.epochs}"
        learning_rate = optimizer.param_groups[0]["lr"]
        distributed.set_epoch(train_loader, epoch)
        train = run_epoch(trained, train_loader, step_fn, optimizer, scheduler if per_batch else None, device=device,
                          precision=precision, description=f"{label} train", epoch=epoch, grad_clip=config.grad_clip)
        if not per_batch:
            scheduler.step()
        train = distributed.reduce_epoch(train, topology)
        valid = distributed.evaluate_shard(
            lambda: run_epoch(model, valid_loader, step_fn, device=device, precision=precision,
                              description=f"{label} valid", epoch=epoch), valid_loader, topology)
        metrics = {name: float(value) for name, value in metric_fn(valid).items()}
        value = _selection_value(metrics, config.selection_metric)
        progress.epoch = epoch
        progress.history.append(_history_row(epoch, train, valid, metrics, learning_rate))
        if on_epoch is not None:  # e.g. a hyperparameter search reporting the validation metric
            on_epoch(progress.history[-1])
        if _improves(value, progress.best_value, config.selection_mode):
            progress.best_value, progress.best_epoch = value, epoch
            progress.best_state_dict = {name: tensor.detach().to("cpu", copy=True)
                                        for name, tensor in model.state_dict().items()}
        logger.info("%s: train_loss=%.4f valid_loss=%.4f %s=%.4f (best %.4f at epoch %d)", label, train.loss,
                    valid.loss, config.selection_metric, value, progress.best_value, progress.best_epoch)
        if checkpoint_path is not None:
            state = _checkpoint(progress, model, optimizer, scheduler, generators, total_steps, topology)
            if topology.is_main:
                save_state(checkpoint_path, {**state, "identity": identity, "finished": epoch == config.epochs})

    return FitResult(best_state_dict=progress.best_state_dict, best_epoch=progress.best_epoch,
                     history=progress.history, last_epoch=progress.epoch)


class CheckpointMismatchError(ValueError):
    """A checkpoint to resume was written with other settings, model or data than this run's."""


def identity_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"<dotted field>: checkpoint <value>, now <value>"`` for each field whose value differs (or is absent)."""
    before, after = _flatten(recorded), _flatten(current)
    absent = "<absent>"
    return [f"{key}: checkpoint {before.get(key, absent)!r}, now {after.get(key, absent)!r}"
            for key in sorted(before.keys() | after.keys()) if before.get(key, absent) != after.get(key, absent)]


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def _resumable(checkpoint: Mapping[str, Any], identity: Mapping[str, Any], path: Path, on_mismatch: str) -> bool:
    """Whether ``checkpoint`` continues this run; logs why not, or raises on a mismatch when ``on_mismatch="error"``."""
    recorded = checkpoint.get("identity")
    differences = ["the checkpoint records no settings (written by an older version)"] if recorded is None \
        else identity_differences(recorded, identity)
    if differences and on_mismatch == "error":
        raise CheckpointMismatchError(
            f"cannot resume from {path}: it was trained with other settings, model or data:\n  "
            + "\n  ".join(differences)
            + "\nDelete it, set on_checkpoint_mismatch: restart to train afresh, or resume: false."
        )
    if differences:
        logger.warning("not resuming from %s (on_checkpoint_mismatch=restart): %s", path, "; ".join(differences))
        return False
    if checkpoint.get("finished"):
        logger.info("%s is the checkpoint of a finished run: training afresh (resume continues interrupted runs)",
                    path)
        return False
    return True


def _checkpoint_found(path: Path, topology: distributed.Topology) -> bool:
    """Whether ``path`` exists, the same answer on every rank (a collective: it also waits until rank 0 has
    finished its last save); a ValueError when only some ranks see it (a ``checkpoint_dir`` not on shared storage)."""
    found = distributed.gather_objects(path.is_file(), topology)
    if len(set(found)) > 1:
        raise ValueError(
            f"the checkpoint {path} is seen by ranks {[rank for rank, seen in enumerate(found) if seen]} only, "
            f"not by ranks {[rank for rank, seen in enumerate(found) if not seen]}: to resume under torchrun, put "
            "checkpoint_dir on storage every node shares"
        )
    return found[0]


def _shuffling_generators(loader: Any) -> list[torch.Generator]:
    """The explicit torch generators a DataLoader draws from (its own and its sampler's), without repeats."""
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = (getattr(loader, "generator", None), getattr(sampler, "generator", None),
                  getattr(batch_sampler, "generator", None),
                  getattr(getattr(batch_sampler, "sampler", None), "generator", None))
    generators: list[torch.Generator] = []
    for candidate in candidates:
        if isinstance(candidate, torch.Generator) and all(candidate is not known for known in generators):
            generators.append(candidate)
    return generators


def _selection_value(metrics: Mapping[str, float], name: str) -> float:
    if name not in metrics:
        raise ValueError(f"selection_metric={name!r} is not among the validation metrics {sorted(metrics)}")
    return metrics[name]


def _improves(value: float, best: float | None, mode: str) -> bool:
    if best is None:
        return True
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value < best if mode == "min" else value > best


def _history_row(epoch: int, train: EpochResult, valid: EpochResult, metrics: Mapping[str, float],
                 learning_rate: float) -> dict[str, float]:
    """epoch, train/valid loss, the learning rate at the epoch's first step, train_<part>, valid_<metric>."""
    row: dict[str, float] = {"epoch": epoch, "train_loss": train.loss, "valid_loss": valid.loss,
                             "learning_rate": learning_rate}
    prefixed = [(f"train_{name}", value) for name, value in train.parts.items()]
    prefixed += [(f"valid_{name}", value) for name, value in metrics.items()]
    for key, value in prefixed:
        if key in row:
            raise ValueError(f"history column {key!r} would be written twice: rename that loss part or metric")
        row[key] = float(value)
    return row


def _checkpoint(progress: _Progress, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, generators: list[torch.Generator],
                total_steps: int, topology: distributed.Topology) -> dict[str, Any]:
    """Under DDP, ``rank_rng`` holds every rank's RNG state (a collective: every rank calls this)."""
    rank_rng = distributed.gather_objects(capture_rng_state(generators), topology)
    return ({"rank_rng": rank_rng} if topology.distributed else {}) | {
        "epoch": progress.epoch,
        "total_steps": total_steps,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": progress.history,
        "best_state_dict": progress.best_state_dict,
        "best_epoch": progress.best_epoch,
        "best_value": progress.best_value,
        "rng": rank_rng[0],
    }


def _restore(checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler, generators: list[torch.Generator],
             total_steps: int, topology: distributed.Topology) -> _Progress:
    if checkpoint["total_steps"] != total_steps:
        raise ValueError(
            f"the checkpoint was written for {checkpoint['total_steps']} scheduler steps but this run has "
            f"{total_steps} (epochs, batches per epoch or schedule_step changed): resume needs the same set-up, "
            "or resume=False"
        )
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    saved_world_size = len(checkpoint.get("rank_rng", [None]))
    if saved_world_size != topology.world_size:
        raise ValueError(
            f"the checkpoint was written by {saved_world_size} training process(es) but this run has "
            f"{topology.world_size}: resume with the same number of processes, or resume=False"
        )
    restore_rng_state(checkpoint.get("rank_rng", [checkpoint["rng"]])[topology.rank], generators)
    return _Progress(epoch=checkpoint["epoch"], history=checkpoint["history"],
                     best_state_dict=checkpoint["best_state_dict"], best_epoch=checkpoint["best_epoch"],
                     best_value=checkpoint["best_value"])
