"""Running the cells of one dataset: stage 2 with the variant's overrides, test metrics, and skipping finished cells.

A cell's key hashes everything its result depends on (resolved model config, training settings, seed, metric
scheme, test split, text encoder setting, the split arrays' content and the stage-1 checkpoints it loads), not
the variant's name: variants that resolve to the same model (e.g. "w/o CE" and "alpha=0") share one result.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuda_pipeline.data.contract import SplitArrays
from kuda_pipeline.experiments.grid import CellSpec
from kuda_pipeline.experiments.keys import arrays_fingerprint, cell_key, state_fingerprint
from kuda_pipeline.experiments.probe import CellProbe, probe_model
from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.seeding import seed_everything
from kuda_pipeline.training.stages import (
    config_to_dict,
    kuda_config,
    predict_split,
    restore_kuda,
    train_fusion,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetInputs:
    """What the cells of one dataset share: split arrays, stage-1 checkpoints (modality → state) and settings.

    ``train``: the dataset's stage-2 TrainConfig fields; ``evaluation``: ``split``, ``batch_size``, ``device``.
    """

    dataset: str
    arrays: SplitArrays
    knowledge: Mapping[str, Mapping[str, Any]]
    architecture: Mapping[str, Any]
    text_encoder: str
    text_encoder_dir: Path | str  # a directory or a Hugging Face hub id
    train: Mapping[str, Any]
    scheme: str
    evaluation: Mapping[str, Any]


@dataclass
class CellResult:
    """A finished cell: its key, what it ran, its test and selected-epoch validation metrics, and its wall time."""

    key: str
    dataset: str
    variant: str
    seed: int
    overrides: dict[str, Any]
    settings: dict[str, Any]
    test_metrics: dict[str, float]
    valid_metrics: dict[str, float]
    best_epoch: int
    seconds: float
    probe: CellProbe | None = None

    def to_record(self) -> dict[str, Any]:
        """Plain JSON values (one partition of the cell results)."""
        record = dataclasses.asdict(dataclasses.replace(self, probe=None))
        return {**record, "probe": None if self.probe is None else self.probe.to_record()}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CellResult:
        """Inverse of :meth:`to_record`."""
        probe = record.get("probe")
        return cls(**{**record, "probe": None if probe is None else CellProbe.from_record(probe)})


@dataclass(frozen=True)
class PlannedRun:
    """A cell with its resolved architecture, training settings and key, checked before anything trains."""

    cell: CellSpec
    architecture: dict[str, Any]
    train: TrainConfig
    settings: dict[str, Any]
    key: str


@dataclass
class GridRun:
    """``cells``: one result per finished cell of the dataset, in grid order; ``computed``: key → result trained now;
    ``failed``: key → the cell and its error, for cells that could not be trained (after retries)."""

    cells: list[CellResult]
    computed: dict[str, CellResult]
    failed: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass
class CellOutcomes:
    """What an executor returns: key → result of each trained cell, key → description of each failed one."""

    results: dict[str, CellResult]
    failures: dict[str, str]


CellExecutor = Callable[[Sequence[PlannedRun], DatasetInputs], CellOutcomes]


def run_sequentially(runs: Sequence[PlannedRun], inputs: DatasetInputs) -> CellOutcomes:
    """The cells one after another in this process (an error stops the grid)."""
    return CellOutcomes({run.key: run_cell(run, inputs) for run in runs}, {})


RecordSource = Mapping[str, Any] | Callable[[], Mapping[str, Any]]  # a record, or a partition's lazy loader


def plan_runs(cells: Sequence[CellSpec], inputs: DatasetInputs, training: Mapping[str, Any]) -> list[PlannedRun]:
    """Resolve and validate every cell (model config, TrainConfig, stage-1 checkpoints present) and key it."""
    if not cells:
        return []
    data = arrays_fingerprint(inputs.arrays)
    knowledge = {m: state_fingerprint(state) for m, state in inputs.knowledge.items()}
    runs = []
    for cell in cells:
        architecture = cell.variant.resolve(inputs.architecture)
        try:
            config = kuda_config(architecture, inputs.arrays)
            train = TrainConfig.from_dict({**inputs.train, **training, "seed": cell.seed})
        except ValueError as error:
            raise ValueError(f"cell ({cell.dataset}, {cell.variant.name}, seed {cell.seed}): {error}") from error
        used = config.modalities if cell.variant.use_knowledge else ()
        missing = [m for m in used if m not in knowledge]
        if missing:
            raise ValueError(
                f"cell ({cell.dataset}, {cell.variant.name}): no stage-1 checkpoint for modalities {missing}; "
                f"given: {sorted(knowledge)}"
            )
        settings = {
            "dataset": cell.dataset,
            "architecture": config_to_dict(config),
            "use_knowledge": cell.variant.use_knowledge,
            "train": dataclasses.asdict(train),
            "scheme": inputs.scheme,
            "test_split": inputs.evaluation["split"],
            "text_encoder": inputs.text_encoder,
            "data": data,
            "knowledge": {m: knowledge[m] for m in used},
        }
        runs.append(PlannedRun(cell, architecture, train, settings, cell_key(settings)))
    return runs


def run_cell(run: PlannedRun, inputs: DatasetInputs) -> CellResult:
    """Stage 2 of one cell (seeded before the model is built), then its metrics (and probe) on the test split."""
    cell, evaluation = run.cell, inputs.evaluation
    start = time.perf_counter()
    seed_everything(cell.seed)
    knowledge = {m: inputs.knowledge[m] for m in run.settings["knowledge"]}
    stage, _ = train_fusion(inputs.arrays, knowledge, run.architecture, inputs.text_encoder_dir, run.train,
                            inputs.scheme, freeze_knowledge=cell.variant.use_knowledge)
    model = restore_kuda(stage.state, inputs.text_encoder_dir)
    split = inputs.arrays[evaluation["split"]]
    predictions, metrics = predict_split(model, split, inputs.scheme, evaluation["batch_size"], evaluation["device"])
    probe = None
    if cell.probe:
        probe = probe_model(model, split, predictions, evaluation["batch_size"], evaluation["device"])
    seconds = time.perf_counter() - start
    logger.info("cell %s (%s, %s, seed %d) in %.1f s: test %s", run.key, cell.dataset, cell.variant.name, cell.seed,
                seconds, metrics)
    return CellResult(run.key, cell.dataset, cell.variant.name, cell.seed, cell.variant.overrides(), run.settings,
                      metrics, stage.valid_metrics, stage.best_epoch, seconds, probe)


def run_grid_cells(
    cells: Sequence[CellSpec], inputs: DatasetInputs, training: Mapping[str, Any], done: Mapping[str, RecordSource],
    execute: CellExecutor = run_sequentially,
) -> GridRun:
    """Run the cells whose key is not in ``done`` (key → finished record) with ``execute`` and return every cell's
    result.

    A finished cell is reused unless it is the figure cell and was stored without a probe. Cells sharing a key
    run once.
    """
    planned = plan_runs(cells, inputs, training)
    chosen: dict[str, PlannedRun] = {}  # one run per key: the figure cell's when it is among them
    for run in planned:
        if run.key not in chosen or (run.cell.probe and not chosen[run.key].cell.probe):
            chosen[run.key] = run
    reused = {key: result for key, run in chosen.items() if (result := _usable(_stored(done, key), run))}
    pending = [run for key, run in chosen.items() if key not in reused]
    outcomes = execute(pending, inputs)
    finished = {**reused, **outcomes.results}
    results = [dataclasses.replace(finished[run.key], variant=run.cell.variant.name,
                                   overrides=run.cell.variant.overrides())
               for run in planned if run.key in finished]
    logger.info("%s: %d cell(s), %d trained now, %d reused, %d failed", inputs.dataset, len(planned),
                len(outcomes.results), len(results) - len(outcomes.results), len(outcomes.failures))
    return GridRun(results, dict(outcomes.results), dict(outcomes.failures))


def _stored(done: Mapping[str, RecordSource], key: str) -> CellResult | None:
    source = done.get(key)
    if source is None:
        return None
    return CellResult.from_record(source() if callable(source) else source)


def _usable(result: CellResult | None, run: PlannedRun) -> CellResult | None:
    return result if result is not None and (result.probe is not None or not run.cell.probe) else None
