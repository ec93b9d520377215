"""The declared grid (dataset × variant × seed), validated into the list of cells to run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kuda_pipeline.experiments.ray_settings import RaySettings
from kuda_pipeline.experiments.variants import Variant
from kuda_pipeline.training.config import TrainConfig

GRID_FIELDS = ("name", "grid", "training", "figures", "report", "ray")
ENTRY_FIELDS = ("dataset", "variants", "seeds")
EMBEDDINGS = ("tsne", "pca")
TRAINING_OVERRIDES = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "seed")


@dataclass(frozen=True)
class CellSpec:
    """One cell of the grid; ``probe``: also record the test split's representations and attention (figures)."""

    dataset: str
    variant: Variant
    seed: int
    probe: bool = False


@dataclass(frozen=True)
class FigureSpec:
    """The cell whose trained model the figures show, the 2-D embedding and the number of case samples."""

    dataset: str
    variant: str
    seed: int
    embedding: str = "tsne"
    perplexity: float = 30.0
    cases: int = 4


@dataclass(frozen=True)
class GridSpec:
    """A validated grid: its name, cells in declaration order, the training overrides common to every cell, the
    figure cell, per dataset the paper datasets its numbers are set beside in the report, and where cells run."""

    name: str
    cells: tuple[CellSpec, ...]
    training: Mapping[str, Any]
    figures: FigureSpec
    counterparts: Mapping[str, tuple[str, ...]]
    ray: RaySettings = RaySettings()

    def cells_of(self, dataset: str) -> list[CellSpec]:
        """The cells of one dataset, in declaration order."""
        return [cell for cell in self.cells if cell.dataset == dataset]

    def counterparts_of(self, dataset: str) -> tuple[str, ...]:
        """The paper datasets beside which ``dataset``'s results are reported (itself by default)."""
        return tuple(self.counterparts.get(dataset, (dataset,)))


def plan_grid(experiments: Mapping[str, Any], variants: Mapping[str, Variant], datasets: Sequence[str]) -> GridSpec:
    """Validate ``experiments`` (the ``experiments`` parameters) against the declared variants and the datasets the
    pipeline was built for; ValueError names the offending entry and lists the known names."""
    _require_fields("experiments", experiments, GRID_FIELDS, required=("name", "grid", "figures"))
    name = experiments["name"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"experiments.name must be a non-empty string, got {name!r}")
    entries = experiments["grid"]
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise ValueError(f"experiments.grid must be a non-empty list of {{dataset, variants, seeds}}, got {entries!r}")
    figures = _figure_spec(experiments["figures"])
    cells: dict[tuple[str, str, int], CellSpec] = {}
    for position, entry in enumerate(entries):
        for dataset, variant, seed in _entry_cells(entry, position, variants, datasets):
            probe = (dataset, variant, seed) == (figures.dataset, figures.variant, figures.seed)
            cells.setdefault((dataset, variant, seed), CellSpec(dataset, variants[variant], seed, probe))
    if not any(cell.probe for cell in cells.values()):
        raise ValueError(
            f"experiments.figures names the cell ({figures.dataset}, {figures.variant}, seed {figures.seed}), "
            f"which is not in the grid; grid cells: {sorted(cells)}"
        )
    return GridSpec(name, tuple(cells.values()), _training_overrides(experiments.get("training") or {}), figures,
                    _counterparts((experiments.get("report") or {}).get("counterparts") or {}),
                    RaySettings.from_params(experiments.get("ray")))


def _require_fields(where: str, values: Any, allowed: Sequence[str], required: Sequence[str]) -> None:
    if not isinstance(values, Mapping):
        raise ValueError(f"{where} must be a mapping, got {values!r}")
    unknown = sorted(set(values) - set(allowed))
    missing = [key for key in required if key not in values]
    if unknown or missing:
        raise ValueError(f"{where}: unknown field(s) {unknown}, missing field(s) {missing}; allowed: {list(allowed)}")


def _entry_cells(
    entry: Any, position: int, variants: Mapping[str, Variant], datasets: Sequence[str]
) -> list[tuple[str, str, int]]:
    where = f"experiments.grid[{position}]"
    _require_fields(where, entry, ENTRY_FIELDS, required=ENTRY_FIELDS)
    dataset, names, seeds = entry["dataset"], entry["variants"], entry["seeds"]
    if dataset not in datasets:
        raise ValueError(f"{where}: unknown dataset {dataset!r}; known datasets: {list(datasets)}")
    if not isinstance(names, Sequence) or isinstance(names, str) or not names:
        raise ValueError(f"{where}.variants must be a non-empty list of variant names, got {names!r}")
    unknown = [name for name in names if name not in variants]
    if unknown:
        raise ValueError(f"{where}: unknown variant(s) {unknown}; known variants: {list(variants)}")
    if not isinstance(seeds, Sequence) or not seeds or not all(_is_seed(seed) for seed in seeds):
        raise ValueError(f"{where}.seeds must be a non-empty list of integers in [0, 2**32), got {seeds!r}")
    return [(dataset, name, seed) for name in names for seed in seeds]


def _is_seed(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32


def _training_overrides(training: Any) -> dict[str, Any]:
    if not isinstance(training, Mapping):
        raise ValueError(f"experiments.training must be a mapping of TrainConfig fields, got {training!r}")
    unknown = sorted(set(training) - set(TRAINING_OVERRIDES))
    if unknown:
        raise ValueError(
            f"experiments.training: unknown or not overridable field(s) {unknown} (seeds come from the grid); "
            f"allowed: {list(TRAINING_OVERRIDES)}"
        )
    return dict(training)


def _figure_spec(figures: Any) -> FigureSpec:
    allowed = [f.name for f in dataclasses.fields(FigureSpec)]
    _require_fields("experiments.figures", figures, allowed, required=("dataset", "variant", "seed"))
    spec = FigureSpec(**figures)
    if spec.embedding not in EMBEDDINGS:
        raise ValueError(f"experiments.figures.embedding must be one of {EMBEDDINGS}, got {spec.embedding!r}")
    if not isinstance(spec.cases, int) or spec.cases < 1 or not spec.perplexity > 0:
        raise ValueError(
            f"experiments.figures: cases must be an integer >= 1 and perplexity > 0, "
            f"got cases={spec.cases!r}, perplexity={spec.perplexity!r}"
        )
    return spec


def _counterparts(counterparts: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(counterparts, Mapping) or not all(
        isinstance(names, Sequence) and not isinstance(names, str) for names in counterparts.values()
    ):
        raise ValueError(
            f"experiments.report.counterparts must map a dataset to a list of paper datasets, got {counterparts!r}"
        )
    return {dataset: tuple(names) for dataset, names in counterparts.items()}
