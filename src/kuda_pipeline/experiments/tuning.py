"""Hyperparameter search for stage 2 with Ray Tune: Optuna proposes, ASHA stops weak trials early, both on the
VALIDATION metric reported after every epoch. The search never sees the test split; the best configuration is
trained once more (same seed, so the same model) and evaluated on the test split, once.

Ray is imported only inside the functions that need it (``pip install "kuda_pipeline[ray]"``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kuda_pipeline.experiments.ray_cells import connect, import_ray
from kuda_pipeline.experiments.ray_settings import RaySettings
from kuda_pipeline.experiments.runner import DatasetInputs
from kuda_pipeline.experiments.variants import merge_overrides
from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.seeding import seed_everything
from kuda_pipeline.training.stages import predict_split, restore_kuda, train_fusion

logger = logging.getLogger(__name__)

TUNE_FIELDS = ("name", "metric", "mode", "num_samples", "max_concurrent", "seed", "training", "search_space", "asha",
               "storage", "ray")
DISTRIBUTIONS = {"loguniform": ("low", "high"), "uniform": ("low", "high"), "randint": ("low", "high"),
                 "choice": ("values",)}
SEARCH_SPLITS = ("train", "valid")  # all a trial is given


@dataclass(frozen=True)
class TuneSpec:
    """The validated ``tune`` parameters.

    ``search_space``: name → {type: loguniform|uniform|randint|choice, low/high or values}; a name is a stage-2
    TrainConfig field (``learning_rate``) or ``architecture.<field>`` (nested with dots: ``architecture.k``).
    ``training``: TrainConfig overrides for every trial (``epochs`` is also ASHA's maximum). ``asha``:
    ``grace_period`` (epochs before a trial can be stopped) and ``reduction_factor``. ``storage``: the folder of
    Ray Tune's own trial files.
    """

    name: str
    metric: str
    mode: str
    num_samples: int
    max_concurrent: int
    seed: int
    training: Mapping[str, Any]
    search_space: Mapping[str, Mapping[str, Any]]
    asha: Mapping[str, Any]
    storage: str
    ray: RaySettings

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> TuneSpec:
        unknown = sorted(set(values) - set(TUNE_FIELDS))
        missing = [name for name in TUNE_FIELDS if name not in values and name != "ray"]
        if unknown or missing:
            raise ValueError(f"tune: unknown field(s) {unknown}, missing field(s) {missing}; allowed: {TUNE_FIELDS}")
        spec = cls(**{**values, "ray": RaySettings.from_params(values.get("ray"), "tune.ray")})
        if spec.mode not in ("min", "max"):
            raise ValueError(f"tune.mode={spec.mode!r} is invalid: expected 'min' or 'max'")
        for name in ("num_samples", "max_concurrent"):
            if not isinstance(getattr(spec, name), int) or getattr(spec, name) < 1:
                raise ValueError(f"tune.{name}={getattr(spec, name)!r} is invalid: expected an integer >= 1")
        if not isinstance(spec.training.get("epochs"), int) or spec.training["epochs"] < 1:
            raise ValueError(f"tune.training.epochs={spec.training.get('epochs')!r} is invalid: expected an integer "
                             ">= 1 (every trial's epochs, ASHA's maximum)")
        if not spec.search_space:
            raise ValueError("tune.search_space is empty: declare at least one hyperparameter")
        train_fields = {field.name for field in dataclasses.fields(TrainConfig)} - {"seed", "epochs"}
        for name, distribution in spec.search_space.items():
            kind = distribution.get("type") if isinstance(distribution, Mapping) else None
            if kind not in DISTRIBUTIONS or set(distribution) != {"type", *DISTRIBUTIONS[kind]}:
                raise ValueError(f"tune.search_space.{name}={distribution!r} is invalid: expected a type among "
                                 f"{list(DISTRIBUTIONS)} with its fields {DISTRIBUTIONS}")
            if not (name in train_fields or name.startswith("architecture.")):
                raise ValueError(f"tune.search_space.{name}: expected a TrainConfig field {sorted(train_fields)} or "
                                 "'architecture.<field>'")
        return spec


def trial_settings(spec: TuneSpec, inputs: DatasetInputs, sampled: Mapping[str, Any]) -> tuple[dict, TrainConfig]:
    """The architecture and TrainConfig of one trial: the dataset's, the spec's overrides, the sampled values."""
    architecture: dict[str, Any] = dict(inputs.architecture)
    train = {**inputs.train, **spec.training, "seed": spec.seed}
    for name, value in sampled.items():
        if name.startswith("architecture."):
            *path, leaf = name.removeprefix("architecture.").split(".")
            override: dict[str, Any] = {leaf: value}
            for key in reversed(path):
                override = {key: override}
            architecture = merge_overrides(architecture, override)
        else:
            train[name] = value
    return architecture, TrainConfig.from_dict(train)


def search_inputs(inputs: DatasetInputs) -> DatasetInputs:
    """``inputs`` with the training and validation splits only: the test split never reaches a trial."""
    return dataclasses.replace(inputs, arrays={split: inputs.arrays[split] for split in SEARCH_SPLITS})


def _trial(sampled: dict[str, Any], spec: TuneSpec, inputs: DatasetInputs) -> None:
    """One Tune trial: stage 2 with the sampled settings, reporting the validation metrics after every epoch."""
    from ray import tune

    architecture, train = trial_settings(spec, inputs, sampled)
    seed_everything(train.seed)

    def report(row: dict[str, float]) -> None:
        tune.report({key: value for key, value in row.items() if key.startswith(("valid_", "train_", "epoch"))})

    train_fusion(inputs.arrays, inputs.knowledge, architecture, inputs.text_encoder_dir, train, inputs.scheme,
                 on_epoch=report)


@dataclass
class SearchResult:
    """One row per trial (its sampled values, best and last validation metric, epochs run, whether ASHA stopped it)
    with per-epoch histories, and the best trial's sampled configuration."""

    trials: pd.DataFrame
    histories: dict[str, pd.DataFrame]
    best: dict[str, Any]


def run_search(spec: TuneSpec, inputs: DatasetInputs) -> SearchResult:
    """Ray Tune over ``spec.search_space`` on ``inputs``' training and validation splits (OptunaSearch seeded with
    ``spec.seed``, at most ``max_concurrent`` trials at once, ASHA on ``valid_<metric>``)."""
    ray = import_ray()
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    metric = f"valid_{spec.metric}"
    started = connect(ray, spec.ray)
    try:
        trainable = tune.with_resources(tune.with_parameters(_trial, spec=spec, inputs=search_inputs(inputs)),
                                        {"cpu": spec.ray.cell_cpus, "gpu": spec.ray.cell_gpus})
        searcher = ConcurrencyLimiter(OptunaSearch(seed=spec.seed), max_concurrent=spec.max_concurrent)
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=spec.training["epochs"], **spec.asha)
        tuner = tune.Tuner(
            trainable,
            param_space={name: _distribution(tune, values) for name, values in spec.search_space.items()},
            tune_config=tune.TuneConfig(metric=metric, mode=spec.mode, search_alg=searcher, scheduler=scheduler,
                                        num_samples=spec.num_samples),
            run_config=tune.RunConfig(name=spec.name, storage_path=str(Path(spec.storage).resolve()), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=spec.ray.max_retries)),
        )
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    return _search_result(spec, grid, metric)


def _distribution(tune: Any, values: Mapping[str, Any]) -> Any:
    kind = values["type"]
    if kind == "choice":
        return tune.choice(list(values["values"]))
    return {"loguniform": tune.loguniform, "uniform": tune.uniform, "randint": tune.randint}[kind](
        values["low"], values["high"])


def _search_result(spec: TuneSpec, grid: Any, metric: str) -> SearchResult:
    rows, histories = [], {}
    better = min if spec.mode == "min" else max
    for result in grid:
        history = result.metrics_dataframe
        if history is None or metric not in history:
            continue
        trial = result.metrics["trial_id"]
        histories[trial] = history
        values = history[metric].dropna()
        rows.append({"trial": trial, **{f"config.{key}": value for key, value in result.config.items()},
                     f"best_{metric}": better(values) if len(values) else math.nan,
                     f"last_{metric}": values.iloc[-1] if len(values) else math.nan,
                     "epochs": int(history["training_iteration"].max()),
                     "stopped_early": int(history["training_iteration"].max()) < spec.training["epochs"],
                     "error": result.error is not None})
    if not rows:
        raise RuntimeError(f"tune {spec.name}: no trial reported {metric}")
    trials = pd.DataFrame(rows).sort_values(f"best_{metric}", ascending=spec.mode == "min", kind="stable")
    best_trial = trials.iloc[0]
    best = {key.removeprefix("config."): _plain(value) for key, value in best_trial.items()
            if key.startswith("config.")}
    logger.info("tune %s: %d trial(s), %d stopped early by ASHA; best %s=%s with %s", spec.name, len(trials),
                int(trials["stopped_early"].sum()), metric, best_trial[f"best_{metric}"], best)
    return SearchResult(trials.reset_index(drop=True), histories, best)


def _plain(value: Any) -> Any:
    """NumPy scalars (as a DataFrame gives them) as Python numbers, for JSON."""
    return value.item() if hasattr(value, "item") else value


def evaluate_best(spec: TuneSpec, inputs: DatasetInputs, best: Mapping[str, Any]) -> dict[str, Any]:
    """The best configuration trained again with the search's seed (the same model as its trial) and evaluated on
    ``inputs.evaluation["split"]``, once: the configuration, its selected epoch, validation and test metrics."""
    architecture, train = trial_settings(spec, inputs, best)
    seed_everything(train.seed)
    stage, _ = train_fusion(inputs.arrays, inputs.knowledge, architecture, inputs.text_encoder_dir, train,
                            inputs.scheme)
    model = restore_kuda(stage.state, inputs.text_encoder_dir)
    split = inputs.evaluation["split"]
    _, test_metrics = predict_split(model, inputs.arrays[split], inputs.scheme, inputs.evaluation["batch_size"],
                                    inputs.evaluation["device"])
    return {"configuration": dict(best), "best_epoch": stage.best_epoch, "valid": stage.valid_metrics,
            "test_split": split, "test": test_metrics}


def tune_tracking_records(spec: TuneSpec, dataset: str, search: SearchResult) -> list[dict[str, Any]]:
    """One MLflow run per trial (``MlflowGridRunsDataset`` records): its sampled values as parameters, its final
    numbers as metrics and its per-epoch validation curve as metric steps."""
    records = []
    for row in search.trials.to_dict("records"):
        trial = row["trial"]
        history = search.histories[trial]
        curves = history.filter(regex=r"^(valid_|train_)").to_dict("records")
        steps = [(int(step), {name: float(value) for name, value in curve.items() if math.isfinite(value)})
                 for step, curve in zip(history["training_iteration"], curves)]
        records.append({
            "grid": spec.name,
            "run_name": f"{dataset} | tune {spec.name} | trial {trial}",
            "tags": {"grid": spec.name, "dataset": dataset, "variant": "tune", "seed": str(spec.seed),
                     "trial": trial},
            "params": {key.removeprefix("config."): value for key, value in row.items() if key.startswith("config.")},
            "metrics": {key: float(value) for key, value in row.items()
                        if key.startswith(("best_", "last_", "epochs")) and math.isfinite(float(value))},
            "steps": steps,
        })
    return records


def render_tune_report(spec: TuneSpec, dataset: str, trials: pd.DataFrame, evaluation: Mapping[str, Any]) -> str:
    """Markdown: how the search ran, every trial, and the best configuration's single test evaluation."""
    stopped = int(trials["stopped_early"].sum())
    lines = [
        f"# Hyperparameter search `{spec.name}` on `{dataset}`", "",
        f"Ray Tune, {len(trials)} trial(s): Optuna (TPE, seed {spec.seed}) proposes, ASHA stops weak trials on the "
        f"**validation** {spec.metric} reported after every epoch ({stopped} stopped early; at most "
        f"{spec.training['epochs']} epochs). **The test split was not used during the search**: it was evaluated "
        f"once, for the best trial only, after it had been chosen on the validation split.", "",
        "## Best configuration", "",
        *[f"- `{key}`: {value}" for key, value in evaluation["configuration"].items()], "",
        f"Selected epoch {evaluation['best_epoch']}. Validation: "
        + ", ".join(f"{k} {v:.4f}" for k, v in evaluation["valid"].items()) + ".", "",
        f"Test (`{evaluation['test_split']}` split, evaluated once): "
        + ", ".join(f"{k} {v:.4f}" for k, v in evaluation["test"].items()) + ".", "",
        "## Trials (best first)", "",
    ]
    shown = trials.drop(columns=["error"])
    lines.append("| " + " | ".join(shown.columns) + " |")
    lines.append("| " + " | ".join("---" for _ in shown.columns) + " |")
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
