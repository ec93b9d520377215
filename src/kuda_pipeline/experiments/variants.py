"""Experiment variants: a name and what it changes in a dataset's KuDA (Tables 5-7, Figure 5 of the paper)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VARIANT_FIELDS = ("architecture", "use_knowledge")


@dataclass(frozen=True)
class Variant:
    """Overrides of ``model.architecture`` (nested mappings merge key by key) and whether stage-1 knowledge is
    loaded and frozen (``use_knowledge=False``: the "w/o KIP" ablation)."""

    name: str
    architecture: Mapping[str, Any] = field(default_factory=dict)
    use_knowledge: bool = True

    def resolve(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` (a dataset's architecture) with this variant's overrides applied."""
        return merge_overrides(base, self.architecture)

    def overrides(self) -> dict[str, Any]:
        """What the variant changes, as plain values (for MLflow parameters and the cell records)."""
        return {"architecture": dict(self.architecture), "use_knowledge": self.use_knowledge}


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` where each key of ``overrides`` replaces the base value, mappings merging recursively."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_variants(declared: Mapping[str, Any]) -> dict[str, Variant]:
    """``{name: {architecture: {...}, use_knowledge: bool}}`` (both optional) → variants, validated."""
    if not isinstance(declared, Mapping) or not declared:
        raise ValueError(f"experiment variants must be a non-empty mapping name -> overrides, got {declared!r}")
    variants = {}
    for name, spec in declared.items():
        spec = {} if spec is None else spec
        if not isinstance(name, str) or not name or not isinstance(spec, Mapping):
            raise ValueError(f"variant {name!r}: expected a non-empty name and a mapping of overrides, got {spec!r}")
        unknown = sorted(set(spec) - set(VARIANT_FIELDS))
        if unknown:
            raise ValueError(f"variant {name!r}: unknown field(s) {unknown}; allowed: {list(VARIANT_FIELDS)}")
        architecture = spec.get("architecture", {})
        use_knowledge = spec.get("use_knowledge", True)
        if not isinstance(architecture, Mapping) or not isinstance(use_knowledge, bool):
            raise ValueError(
                f"variant {name!r}: architecture must be a mapping and use_knowledge true/false, "
                f"got architecture={architecture!r}, use_knowledge={use_knowledge!r}"
            )
        variants[name] = Variant(name, dict(architecture), use_knowledge)
    return variants
