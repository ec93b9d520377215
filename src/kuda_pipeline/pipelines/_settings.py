"""The parameter sections that nodes receive as objects, built from the validated ``params:`` dicts.

A node decorated with ``@with_settings`` receives each argument it annotates with one of these types (e.g.
``fusion_training: FusionTrainingSettings``) built by ``from_parameters`` from the section that
``parameters.validate_parameters`` has checked before the run; any runner, or a direct call, gets the same.
The catalog keeps the dicts, so kedro-mlflow logs every parameter flattened and the incremental-run digests stay
those of the YAML. They are NamedTuples, not dataclasses, so that Kedro's own typed-parameter validation (which
would replace the dicts in the catalog, before our schema names a misspelt key) leaves them alone. ``model``
stays a dict: its architecture becomes a ``KudaConfig`` only with the data's shapes (``training.stages.kuda_config``).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from kuda_pipeline.data.contract import MODALITIES
from kuda_pipeline.pipelines._common import optional_path
from kuda_pipeline.training.config import TrainConfig


class IngestionSettings(NamedTuple):
    """``<namespace>.ingestion``: labels outside ``label_range`` are an error."""

    label_range: tuple[float, float]

    @classmethod
    def from_parameters(cls, section: Mapping[str, Any]) -> IngestionSettings:
        low, high = section["label_range"]
        return cls((float(low), float(high)))


class ModalityPretraining(NamedTuple):
    loss: str
    train: TrainConfig


class KnowledgePretrainingSettings(NamedTuple):
    """``<namespace>.knowledge_pretraining``: the metric scheme, a checkpoint directory, per modality its loss and
    training settings."""

    scheme: str
    checkpoint_dir: Path | None
    modalities: dict[str, ModalityPretraining]

    @classmethod
    def from_parameters(cls, section: Mapping[str, Any]) -> KnowledgePretrainingSettings:
        modalities = {m: ModalityPretraining(section[m]["loss"], TrainConfig.from_dict(section[m]["train"]))
                      for m in MODALITIES if m in section}
        return cls(section["scheme"], optional_path(section.get("checkpoint_dir")), modalities)


class FusionTrainingSettings(NamedTuple):
    """``<namespace>.fusion_training``: stage-2 training settings and a checkpoint directory."""

    train: TrainConfig
    checkpoint_dir: Path | None

    @classmethod
    def from_parameters(cls, section: Mapping[str, Any]) -> FusionTrainingSettings:
        return cls(TrainConfig.from_dict(section["train"]), optional_path(section.get("checkpoint_dir")))


class EvaluationSettings(NamedTuple):
    """``<namespace>.evaluation``: the split evaluated, its batch size and device."""

    split: str
    batch_size: int
    device: str

    @classmethod
    def from_parameters(cls, section: Mapping[str, Any]) -> EvaluationSettings:
        return cls(section["split"], int(section["batch_size"]), section["device"])


class PredictSettings(NamedTuple):
    """``<namespace>.predict``: ``catalog`` or an MLflow model URI, and the device."""

    model: str
    device: str

    @classmethod
    def from_parameters(cls, section: Mapping[str, Any]) -> PredictSettings:
        return cls(section["model"], section["device"])


SECTION_TYPES = (IngestionSettings, KnowledgePretrainingSettings, FusionTrainingSettings, EvaluationSettings,
                 PredictSettings)


def with_settings(func: Callable) -> Callable:
    """``func`` called with each argument it annotates with a section type built from the dict it is given."""
    sections = {name: hint for name, hint in typing.get_type_hints(func).items() if hint in SECTION_TYPES}
    signature = inspect.signature(func)

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        for name, section_type in sections.items():
            if isinstance(bound.arguments.get(name), Mapping):
                bound.arguments[name] = section_type.from_parameters(bound.arguments[name])
        return func(*bound.args, **bound.kwargs)

    return call
