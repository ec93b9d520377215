"""Validation of each dataset namespace's parameters, section by section, before a run starts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kuda_pipeline.data.synthetic import SyntheticSpec


def _validate_label_range(section: Mapping[str, Any]) -> None:
    low, high = section["label_range"]
    if not low < high:
        raise ValueError(f"label_range must be [low, high] with low < high, got {list(section['label_range'])}")


def _validate_label_statistics(section: Mapping[str, Any]) -> None:
    for key in ("tolerance", "neutral_band"):
        if section[key] < 0:
            raise ValueError(f"{key} must be >= 0, got {section[key]}")


VALIDATORS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "synthesis": lambda section: SyntheticSpec(**section),
    "ingestion": _validate_label_range,
    "label_statistics": _validate_label_statistics,
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
