"""Validation of each dataset namespace's parameters, section by section, before a run starts."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from kuda_pipeline.data.synthetic import SyntheticSpec
from kuda_pipeline.evaluation.metrics import METRIC_FUNCTIONS
from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.pretrained import PretrainedUnavailableError, unavailable_reason
from kuda_pipeline.training.config import TrainConfig

# Stand-ins for the sizes read from the data at run time, so the rest of the architecture is checked up front.
_DATA_SHAPE_STAND_INS = dict(text_length=1, vision_length=1, vision_dim=1, audio_length=1, audio_dim=1)


def _validate_label_range(section: Mapping[str, Any]) -> None:
    low, high = section["label_range"]
    if not low < high:
        raise ValueError(f"label_range must be [low, high] with low < high, got {list(section['label_range'])}")


def _validate_label_statistics(section: Mapping[str, Any]) -> None:
    for key in ("tolerance", "neutral_band"):
        if section[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {section[key]}")


def _validate_scheme(scheme: str) -> None:
    if scheme not in METRIC_FUNCTIONS:
        raise ValueError(f"scheme must be one of {sorted(METRIC_FUNCTIONS)}, got {scheme!r}")


def _validate_model(section: Mapping[str, Any]) -> None:
    _validate_scheme(section["scheme"])
    KudaConfig.from_dict({**section["architecture"], **_DATA_SHAPE_STAND_INS})


def _validate_knowledge_pretraining(section: Mapping[str, Any]) -> None:
    _validate_scheme(section["scheme"])
    for modality in ("t", "v", "a"):
        TrainConfig.from_dict(section[modality]["train"])


VALIDATORS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "synthesis": lambda section: SyntheticSpec(**section),
    "ingestion": _validate_label_range,
    "label_statistics": _validate_label_statistics,
    "model": _validate_model,
    "knowledge_pretraining": _validate_knowledge_pretraining,
    "fusion_training": lambda section: TrainConfig.from_dict(section["train"]),
}


def validate_parameters(parameters_by_namespace: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise ``ValueError`` naming ``namespace.section`` for the first invalid parameter section."""
    for namespace, parameters in parameters_by_namespace.items():
        for section, validate in VALIDATORS.items():
            if section not in parameters:
                continue
            try:
                validate(parameters[section])
            except (TypeError, ValueError, KeyError) as error:
                raise ValueError(f"invalid parameters {namespace}.{section}: {error}") from error


def check_pretrained_models(parameters_by_namespace: Mapping[str, Mapping[str, Any]], used: Collection[str]) -> None:
    """Raise ``PretrainedUnavailableError`` listing every model the run needs but cannot load.

    ``used`` holds the ``params:`` inputs of the nodes about to run: a namespace's text encoder is checked when
    ``params:<ns>.text_encoder`` is among them, its translation model when ``params:<ns>.translation`` is and the
    backend is ``seq2seq`` (a ``fallback`` model is loaded only for ids without a precomputed translation).
    """
    reasons = []
    for namespace, parameters in parameters_by_namespace.items():
        if f"params:{namespace}.text_encoder" in used and "text_encoder" in parameters:
            reasons.append(unavailable_reason(str(parameters["text_encoder"]), f"{namespace}.text_encoder"))
        translation = parameters.get("translation") or {}
        if f"params:{namespace}.translation" in used and translation.get("backend") == "seq2seq":
            model = str((translation.get("seq2seq") or {}).get("model"))
            reasons.append(unavailable_reason(model, f"{namespace}.translation.seq2seq.model"))
    found = [reason for reason in reasons if reason]
    if found:
        raise PretrainedUnavailableError("cannot start the run, pretrained model(s) unavailable:\n- " + "\n- ".join(found))
