"""Where the grid's cells run: the ``experiments.ray`` parameters, validated (no Ray import here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class RaySettings:
    """``experiments.ray``.

    - ``enabled``: hand the cells to Ray (false: one after another in the run's process).
    - ``address``: null starts a local Ray for the run (``num_cpus`` / ``num_gpus`` of this machine, null: all);
      ``auto`` or ``ray://host:10001`` joins an existing cluster.
    - ``cell_cpus`` / ``cell_gpus``: what one cell reserves (fractional GPUs let small cells share one).
    - ``max_retries``: how many times a cell whose worker process dies is run again.
    """

    enabled: bool = True
    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    cell_cpus: float = 1.0
    cell_gpus: float = 0.0
    max_retries: int = 2

    @classmethod
    def from_params(cls, values: Mapping[str, Any] | None, where: str = "experiments.ray") -> RaySettings:
        """Validated settings; ValueError names ``where.<field>``."""
        values = dict(values or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: {known}")
        settings = cls(**values)
        checks = {
            "enabled": isinstance(settings.enabled, bool),
            "address": settings.address is None or (isinstance(settings.address, str) and settings.address != ""),
            "num_cpus": settings.num_cpus is None or _is_count(settings.num_cpus, minimum=1),
            "num_gpus": settings.num_gpus is None or _is_count(settings.num_gpus, minimum=0),
            "cell_cpus": _is_number(settings.cell_cpus) and settings.cell_cpus > 0,
            "cell_gpus": _is_number(settings.cell_gpus) and settings.cell_gpus >= 0,
            "max_retries": _is_count(settings.max_retries, minimum=0),
        }
        expected = {"enabled": "true or false", "address": "null, 'auto' or 'ray://host:port'",
                    "num_cpus": "null or an integer >= 1", "num_gpus": "null or an integer >= 0",
                    "cell_cpus": "a number > 0", "cell_gpus": "a number >= 0 (fractions share a GPU)",
                    "max_retries": "an integer >= 0"}
        for name, valid in checks.items():
            if not valid:
                raise ValueError(f"{where}.{name}={getattr(settings, name)!r} is invalid: expected {expected[name]}")
        if settings.address is not None and (settings.num_cpus is not None or settings.num_gpus is not None):
            raise ValueError(f"{where}: num_cpus/num_gpus size a local Ray; an existing cluster ({settings.address}) "
                             "has its own")
        return settings


def _is_count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
