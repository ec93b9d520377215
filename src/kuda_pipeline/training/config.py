"""Settings of one `fit` call (stage 1 or stage 2), validated when built."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("fp32", "bf16")
SELECTION_MODES = ("min", "max")
SCHEDULE_STEPS = ("epoch", "batch")
CHECKPOINT_MISMATCH = ("error", "restart")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, device and model-selection settings.

    - `warmup_fraction`: share of all scheduler steps spent in linear warm-up before the cosine decay.
    - `schedule_step`: the scheduler steps once per "epoch" (the public code; the paper is silent: the
      first epoch runs at learning rate 0 when there is any warm-up) or once per "batch".
    - `betas`: AdamW's (beta1, beta2); a list (as YAML gives) is turned into a tuple.
    - `grad_clip`: maximum global gradient norm; None disables clipping.
    - `device`: "auto" (cuda when available, else cpu), "cpu", "cuda" or "cuda:N".
    - `precision`: "fp32", or "bf16" autocast (CUDA only; on CPU it falls back to fp32 with a warning).
    - `selection_metric` / `selection_mode`: the validation metric (a key returned by the metric
      function) that picks the best epoch, and whether lower ("min") or higher ("max") is better.
    - `resume`: continue an interrupted run from the checkpoint in the checkpoint directory when one exists.
      The checkpoint must have been written with the same settings, model and data (see `fit`); a checkpoint of
      a finished run is never resumed.
    - `on_checkpoint_mismatch`: what `resume` does with a checkpoint written with other settings, model or data:
      "error" (stop, naming every differing field) or "restart" (train afresh, overwriting it).
    - `num_threads`: torch CPU threads; None leaves torch's setting as it is.
    - `group_by_length`: training batches of samples of similar length (random mega-buckets, reshuffled
      every epoch, reproducible from `seed`), as Hugging Face's `group_by_length`; faster with padding
      trimming, but it changes which samples share a batch, so it is off by default.
    """

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    warmup_fraction: float = 0.1
    schedule_step: str = "epoch"
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = None
    device: str = "auto"
    precision: str = "fp32"
    seed: int = 0
    selection_metric: str = "MAE"
    selection_mode: str = "min"
    resume: bool = False
    on_checkpoint_mismatch: str = "error"
    num_threads: int | None = None
    group_by_length: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.betas, (list, tuple)):
            object.__setattr__(self, "betas", tuple(self.betas))
        _check(self, "epochs", _is_int(self.epochs) and self.epochs >= 1, "an integer >= 1")
        _check(self, "batch_size", _is_int(self.batch_size) and self.batch_size >= 1, "an integer >= 1")
        _check(self, "learning_rate", _is_real(self.learning_rate) and self.learning_rate > 0, "a number > 0")
        _check(self, "weight_decay", _is_real(self.weight_decay) and self.weight_decay >= 0, "a number >= 0")
        _check(self, "warmup_fraction", _is_real(self.warmup_fraction) and 0 <= self.warmup_fraction < 1,
               "a number in [0, 1)")
        _check(self, "schedule_step", self.schedule_step in SCHEDULE_STEPS, f"one of {SCHEDULE_STEPS}")
        _check(self, "betas", isinstance(self.betas, tuple) and len(self.betas) == 2
               and all(_is_real(beta) and 0 <= beta < 1 for beta in self.betas), "two numbers in [0, 1)")
        _check(self, "grad_clip", self.grad_clip is None or (_is_real(self.grad_clip) and self.grad_clip > 0),
               "None or a number > 0")
        _check(self, "device", isinstance(self.device, str) and DEVICE_PATTERN.fullmatch(self.device) is not None,
               "'auto', 'cpu', 'cuda' or 'cuda:N'")
        _check(self, "precision", self.precision in PRECISIONS, f"one of {PRECISIONS}")
        _check(self, "seed", _is_int(self.seed) and 0 <= self.seed < 2**32, "an integer in [0, 2**32)")
        _check(self, "selection_metric", isinstance(self.selection_metric, str) and self.selection_metric != "",
               "a non-empty metric name")
        _check(self, "selection_mode", self.selection_mode in SELECTION_MODES, f"one of {SELECTION_MODES}")
        _check(self, "resume", isinstance(self.resume, bool), "True or False")
        _check(self, "on_checkpoint_mismatch", self.on_checkpoint_mismatch in CHECKPOINT_MISMATCH,
               f"one of {CHECKPOINT_MISMATCH}")
        _check(self, "num_threads", self.num_threads is None or (_is_int(self.num_threads) and self.num_threads >= 1),
               "None or an integer >= 1")
        _check(self, "group_by_length", isinstance(self.group_by_length, bool), "True or False")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a parameters mapping; unknown or missing keys raise ValueError."""
        fields = dataclasses.fields(cls)
        unknown = sorted(set(values) - {field.name for field in fields})
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known fields: {[f.name for f in fields]}")
        missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in values]
        if missing:
            raise ValueError(f"TrainConfig fields {missing} are required but missing from {dict(values)}")
        return cls(**values)


def _check(config: TrainConfig, name: str, valid: bool, requirement: str) -> None:
    if not valid:
        raise ValueError(f"TrainConfig.{name}={getattr(config, name)!r} is invalid: expected {requirement}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# settings that decide how a run continues or where it computes, not what it computes
NOT_IDENTITY_FIELDS = ("resume", "on_checkpoint_mismatch", "device", "num_threads")


def training_identity(config: TrainConfig) -> dict[str, Any]:
    """Every field of ``config`` that decides the trained weights (all but ``NOT_IDENTITY_FIELDS``)."""
    return {name: value for name, value in dataclasses.asdict(config).items() if name not in NOT_IDENTITY_FIELDS}
