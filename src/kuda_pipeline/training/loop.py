"""One epoch loop for training, validation and test, stage 1 and stage 2."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from kuda_pipeline.training.device import autocast_context, resolve_device, resolve_precision
from kuda_pipeline.training.progress import BatchProgress


class StepOutputLike(Protocol):
    """What a step function returns (the model side's `StepOutput`, used by duck typing)."""

    loss: torch.Tensor  # scalar
    predictions: Mapping[str, torch.Tensor]  # each (B,)
    targets: Mapping[str, torch.Tensor]  # each (B,)
    parts: Mapping[str, float]


StepFn = Callable[[nn.Module, Any], StepOutputLike]


@dataclass(frozen=True)
class EpochResult:
    """Sample-weighted mean loss and loss parts, and every prediction/target of the epoch, in loader order."""

    loss: float
    parts: dict[str, float]
    predictions: dict[str, np.ndarray]  # each (N,)
    targets: dict[str, np.ndarray]  # each (N,)


MetricFn = Callable[[EpochResult], Mapping[str, float]]


class NonFiniteLossError(RuntimeError):
    """A batch's loss is NaN or infinite; raised before backward, so the weights are left untouched."""

    def __init__(self, loss: float, epoch: int, step: int, description: str = ""):
        where = f" ({description})" if description else ""
        super().__init__(f"non-finite loss {loss} at epoch {epoch}, step {step}{where}")
        self.loss = loss
        self.epoch = epoch
        self.step = step


def run_epoch(
    model: nn.Module,
    loader: Iterable[Any],
    step_fn: StepFn,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    *,
    device: torch.device | str,
    precision: str = "fp32",
    description: str = "",
    epoch: int = 0,
    grad_clip: float | None = None,
) -> EpochResult:
    """One pass over `loader`: a training epoch when `optimizer` is given, else inference (eval mode).

    Batches must have `.to(device)`; the model must already be on `device`. The scheduler, if any, steps after every optimiser step;
    `grad_clip` bounds the global gradient norm of the optimiser's parameters. `epoch` and the
    batch index ("step") name the place of a non-finite loss.
    """
    training = optimizer is not None
    if not training and (scheduler is not None or grad_clip is not None):
        raise ValueError(f"scheduler={scheduler!r} and grad_clip={grad_clip!r} need an optimizer (none given)")
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    model.train(training)
    accumulator = _EpochAccumulator()
    grad_mode = contextlib.nullcontext() if training else torch.inference_mode()
    progress = BatchProgress(loader, description)
    with grad_mode:
        for step, batch in enumerate(progress):
            with autocast_context(device, precision):
                output = step_fn(model, batch.to(device))
            if output.loss.ndim != 0:
                raise ValueError(f"step_fn returned a loss of shape {tuple(output.loss.shape)}: expected a scalar")
            loss = output.loss.item()
            if not math.isfinite(loss):
                raise NonFiniteLossError(loss, epoch, step, description)
            if training:
                _optimise(output.loss, optimizer, scheduler, grad_clip)
            accumulator.add(output, loss)
            progress.set_loss(accumulator.mean_loss)
    return accumulator.result()


def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    step_fn: StepFn,
    metric_fn: MetricFn,
    device: torch.device | str = "auto",
    precision: str = "fp32",
) -> tuple[EpochResult, dict[str, float]]:
    """Inference over `loader` (e.g. the test split) and the metrics of its predictions."""
    device = resolve_device(device)
    model.to(device)
    result = run_epoch(model, loader, step_fn, device=device, precision=precision, description="evaluate")
    return result, {name: float(value) for name, value in metric_fn(result).items()}


def _optimise(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
              scheduler: torch.optim.lr_scheduler.LRScheduler | None, grad_clip: float | None) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


class _EpochAccumulator:
    """Sample-weighted sums of the loss and its parts; per-batch prediction/target arrays, joined once."""

    def __init__(self) -> None:
        self.samples = 0
        self.loss_sum = 0.0
        self.part_sums: dict[str, float] = {}
        self.predictions: dict[str, list[np.ndarray]] = {}
        self.targets: dict[str, list[np.ndarray]] = {}

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.samples

    def add(self, output: StepOutputLike, loss: float) -> None:
        batch_size = _batch_size(output)
        if self.samples and set(output.parts) != set(self.part_sums):
            raise ValueError(
                f"loss parts changed within the epoch: {sorted(self.part_sums)} → {sorted(output.parts)}"
            )
        self.samples += batch_size
        self.loss_sum += loss * batch_size
        for name, value in output.parts.items():
            self.part_sums[name] = self.part_sums.get(name, 0.0) + float(value) * batch_size
        _append_arrays(self.predictions, output.predictions, "predictions")
        _append_arrays(self.targets, output.targets, "targets")

    def result(self) -> EpochResult:
        if self.samples == 0:
            raise ValueError("the loader yielded no batches")
        return EpochResult(
            loss=self.mean_loss,
            parts={name: total / self.samples for name, total in self.part_sums.items()},
            predictions={name: np.concatenate(chunks) for name, chunks in self.predictions.items()},
            targets={name: np.concatenate(chunks) for name, chunks in self.targets.items()},
        )


def _batch_size(output: StepOutputLike) -> int:
    shapes = {f"{kind}[{name!r}]": tuple(tensor.shape)
              for kind, tensors in (("predictions", output.predictions), ("targets", output.targets))
              for name, tensor in tensors.items()}
    if not output.targets or len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 1:
        raise ValueError(f"step_fn must return non-empty targets and predictions all of shape (B,); got {shapes}")
    return next(iter(shapes.values()))[0]


def _append_arrays(chunks: dict[str, list[np.ndarray]], tensors: Mapping[str, torch.Tensor], kind: str) -> None:
    if chunks and set(tensors) != set(chunks):
        raise ValueError(f"{kind} keys changed within the epoch: {sorted(chunks)} → {sorted(tensors)}")
    for name, tensor in tensors.items():
        chunks.setdefault(name, []).append(tensor.detach().float().cpu().numpy())
