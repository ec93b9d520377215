"""Every parameter checked before any node runs.

``NAMESPACE_SECTIONS`` (the sections of each dataset namespace) and ``GLOBAL_SECTIONS`` (top-level sections)
declare the whole parameter tree, in this one place: a new section is one entry there, a new field of a config
dataclass (``KudaConfig``, ``TrainConfig``, ``SyntheticSpec``) is known by itself. Checked, in order:

1. structure: every key known (a misspelt key anywhere names the nearest known one), each value of its type;
2. semantics: each section as the library builds it (``KudaConfig``, ``TrainConfig``, the experiment grid …),
   and across sections (a selection metric among the metrics of the dataset's scheme);
3. pretrained models, for the namespaces a run uses (``check_run_inputs``): each text encoder and seq2seq model
   can be loaded (a directory that exists, or a hub id that is cached or may be downloaded), and each text
   encoder's config.json is readable and deep enough for the text injection layers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from kuda_pipeline.data.contract import MODALITIES, SPLITS
from kuda_pipeline.data.synthetic import SyntheticSpec
from kuda_pipeline.evaluation.metrics import METRIC_FUNCTIONS, metric_names
from kuda_pipeline.experiments.grid import ENTRY_FIELDS, TRAINING_OVERRIDES, FigureSpec, plan_grid
from kuda_pipeline.experiments.ray_settings import RaySettings
from kuda_pipeline.experiments.tuning import DISTRIBUTIONS, TUNE_FIELDS, TuneSpec
from kuda_pipeline.experiments.variants import parse_variants
from kuda_pipeline.incremental import FORCE_PARAMETER
from kuda_pipeline.model.config import TASK_LOSSES, KudaConfig
from kuda_pipeline.model.text_encoder import read_text_encoder_depth, read_token_limits
from kuda_pipeline.parameter_schema import (
    ANY,
    REAL,
    STR,
    POSITIVE_INT,
    Leaf,
    ListOf,
    MapOf,
    ParameterError,
    Section,
    check_tree,
    list_of,
    one_of,
    optional,
    section_from_dataclass,
    unknown_key_message,
)
from kuda_pipeline.pipeline_registry import PAPER_DATASETS, STAGE_DATASETS_PARAMETER, SYNTHETIC_DATASETS, TUNE_DATASET
from kuda_pipeline.pipelines._common import text_encoder_source
from kuda_pipeline.pretrained import EMBEDDED, PretrainedUnavailableError, unavailable_reason
from kuda_pipeline.training.config import DEVICE_PATTERN, TrainConfig

__all__ = ["ParameterError", "check_pretrained_models", "check_run_inputs", "validate_parameters"]

DATASET_NAMESPACES = SYNTHETIC_DATASETS + PAPER_DATASETS
TRANSLATION_BACKENDS = ("precomputed", "seq2seq")
LOWER_IS_BETTER = ("MAE",)
# Stand-ins for the sizes read from the data at run time, so the rest of the architecture is checked up front.
_DATA_SHAPE_STAND_INS = dict(text_length=1, vision_length=1, vision_dim=1, audio_length=1, audio_dim=1)

SCHEME = one_of(*sorted(METRIC_FUNCTIONS))
DEVICE = Leaf("'auto', 'cpu', 'cuda' or 'cuda:N'",
              lambda value: isinstance(value, str) and DEVICE_PATTERN.fullmatch(value) is not None)
TEXT_ENCODER = Leaf(f"'{EMBEDDED}', a Hugging Face id or the directory of a Hugging Face encoder",
                    lambda value: isinstance(value, str) and value != "")
ARCHITECTURE = section_from_dataclass(KudaConfig, exclude=tuple(_DATA_SHAPE_STAND_INS))
TRAIN = section_from_dataclass(TrainConfig, check=TrainConfig.from_dict)


def _check_label_range(section: Mapping[str, Any]) -> None:
    low, high = section["label_range"]
    if not low < high:
        raise ValueError(f"label_range must be [low, high] with low < high, got {list(section['label_range'])}")


def _check_non_negative(*keys: str):
    def check(section: Mapping[str, Any]) -> None:
        for key in keys:
            if key in section and section[key] < 0:
                raise ValueError(f"{key} must be >= 0, got {section[key]}")
    return check


def _check_architecture(architecture: Mapping[str, Any]) -> KudaConfig:
    return KudaConfig.from_dict({**architecture, **_DATA_SHAPE_STAND_INS})


def _check_translation(section: Mapping[str, Any]) -> None:
    uses_seq2seq = "seq2seq" in (section["backend"], section.get("fallback"))
    if uses_seq2seq and "seq2seq" not in section:
        raise ValueError("backend or fallback is 'seq2seq' but the seq2seq section (model …) is missing")


def _check_predict(section: Mapping[str, Any]) -> None:
    model = section["model"]
    if model != "catalog" and not str(model).startswith(("models:/", "runs:/")):
        raise ValueError(f"model must be 'catalog' or an MLflow model URI (models:/..., runs:/...), got {model!r}")


STAGE1_MODALITY = Section({"loss": one_of(*TASK_LOSSES), "train": TRAIN}, required=("loss", "train"))
SEQ2SEQ = Section({"model": STR, "device": DEVICE, "batch_size": POSITIVE_INT, "max_new_tokens": POSITIVE_INT,
                   "num_beams": POSITIVE_INT}, required=("model",))

NAMESPACE_SECTIONS: dict[str, Any] = {
    "text_encoder": TEXT_ENCODER,
    "synthesis": section_from_dataclass(SyntheticSpec, check=lambda section: SyntheticSpec(**section)),
    "ingestion": Section({"label_range": list_of(REAL, 2)}, required=("label_range",), check=_check_label_range),
    "label_statistics": Section({"tolerance": REAL, "neutral_band": REAL},
                                check=_check_non_negative("tolerance", "neutral_band")),
    "model": Section({"scheme": SCHEME, "architecture": ARCHITECTURE}, required=("scheme", "architecture"),
                     check=lambda section: _check_architecture(section["architecture"])),
    "knowledge_pretraining": Section(
        {"scheme": SCHEME, "checkpoint_dir": optional(STR), "t": STAGE1_MODALITY, "v": STAGE1_MODALITY,
         "a": STAGE1_MODALITY},
        required=("scheme",),
    ),
    "fusion_training": Section({"checkpoint_dir": optional(STR), "train": TRAIN}, required=("train",)),
    "evaluation": Section({"split": one_of(*SPLITS), "batch_size": POSITIVE_INT, "device": DEVICE},
                          required=("split", "batch_size", "device")),
    "translation": Section({"backend": one_of(*TRANSLATION_BACKENDS), "fallback": optional(one_of("seq2seq")),
                            "seq2seq": SEQ2SEQ}, required=("backend",), check=_check_translation),
    "predict": Section({"model": STR, "device": DEVICE}, required=("model", "device"), check=_check_predict),
}

RAY = section_from_dataclass(RaySettings, check=RaySettings.from_params)
TRAINING_OVERRIDE = section_from_dataclass(TrainConfig, exclude=tuple(
    name for name in TrainConfig.__dataclass_fields__ if name not in TRAINING_OVERRIDES), partial=True)
DISTRIBUTION = Section({"type": one_of(*DISTRIBUTIONS), **{field: ANY for fields in DISTRIBUTIONS.values()
                                                            for field in fields}}, required=("type",))
VARIANT = Section({"architecture": section_from_dataclass(KudaConfig, exclude=tuple(_DATA_SHAPE_STAND_INS),
                                                          partial=True),
                   "use_knowledge": one_of(True, False)})
FORCE_RETRAIN = Leaf("true, false or a list of dataset namespaces and node names",
                     lambda value: isinstance(value, bool) or (isinstance(value, list)
                                                               and all(isinstance(item, str) for item in value)))
GLOBAL_SECTIONS: dict[str, Any] = {
    STAGE_DATASETS_PARAMETER: list_of(one_of(*DATASET_NAMESPACES)),
    FORCE_PARAMETER: FORCE_RETRAIN,
    "experiments": Section({
        "name": STR,
        "grid": ListOf(Section({key: ANY for key in ENTRY_FIELDS}, required=ENTRY_FIELDS)),
        "training": TRAINING_OVERRIDE,
        "figures": section_from_dataclass(FigureSpec),
        "report": Section({"counterparts": MapOf(list_of(STR))}),
        "ray": RAY,
    }, required=("name", "grid", "figures")),
    "tune": Section({
        "name": STR, "metric": STR, "mode": one_of("min", "max"), "num_samples": POSITIVE_INT,
        "max_concurrent": POSITIVE_INT, "seed": ANY, "training": TRAINING_OVERRIDE,
        "search_space": MapOf(DISTRIBUTION), "asha": Section({"grace_period": POSITIVE_INT, "reduction_factor": ANY}),
        "storage": STR, "ray": RAY,
    }, required=tuple(name for name in TUNE_FIELDS if name != "ray"), check=TuneSpec.from_params),
    "experiment_variants": MapOf(VARIANT),
}


def validate_parameters(parameters: Mapping[str, Any]) -> None:
    """Raise ``ParameterError`` naming the dotted path of the first unknown, mistyped or invalid parameter.

    Every namespace and section present is checked, whether the run uses it or not.
    """
    for key, value in parameters.items():
        if key.startswith("_"):  # YAML anchors (`_quick_stage2: &quick_stage2`), not parameters
            continue
        if key in DATASET_NAMESPACES:
            check_tree(value, Section(NAMESPACE_SECTIONS), key)
            _check_selection_metrics(value, key)
        elif key in GLOBAL_SECTIONS:
            check_tree(value, GLOBAL_SECTIONS[key], key)
        else:
            raise ParameterError(unknown_key_message("", key, [*DATASET_NAMESPACES, *GLOBAL_SECTIONS]))
    _check_variants(parameters)
    _check_experiments(parameters)
    _check_tune(parameters)


def check_run_inputs(parameters: Mapping[str, Any], namespaces: Iterable[str], used: Collection[str]) -> None:
    """The pretrained models of the namespaces a run uses (``used``: its nodes' inputs) can be loaded, and each
    text encoder fits its namespace's model."""
    by_namespace = {namespace: parameters.get(namespace, {}) for namespace in namespaces}
    check_pretrained_models(by_namespace, used)
    for namespace, values in by_namespace.items():
        if f"params:{namespace}.text_encoder" in used and "text_encoder" in values:
            _check_text_encoder_fits(values, namespace)


def _check_selection_metric(train: Mapping[str, Any], scheme: str, path: str) -> None:
    metric = train.get("selection_metric", TrainConfig.selection_metric)
    mode = train.get("selection_mode", TrainConfig.selection_mode)
    known = metric_names(scheme)
    if metric not in known:
        raise ParameterError(f"{path}.selection_metric: {metric!r} is not a metric of the scheme '{scheme}'; "
                             f"expected one of {list(known)}")
    best = "min" if metric in LOWER_IS_BETTER else "max"
    if mode != best:
        raise ParameterError(f"{path}.selection_mode: {mode!r} would select the worst epoch by {metric}; "
                             f"expected '{best}'")


def _check_selection_metrics(namespace: Mapping[str, Any], path: str) -> None:
    if "train" in namespace.get("fusion_training", {}) and "model" in namespace:
        _check_selection_metric(namespace["fusion_training"]["train"], namespace["model"]["scheme"],
                                f"{path}.fusion_training.train")
    stage1 = namespace.get("knowledge_pretraining", {})
    for modality in MODALITIES:
        if modality in stage1:
            _check_selection_metric(stage1[modality]["train"], stage1["scheme"],
                                    f"{path}.knowledge_pretraining.{modality}.train")


def _check_variants(parameters: Mapping[str, Any]) -> None:
    """Each variant applied to each dataset's architecture builds a valid model."""
    if "experiment_variants" not in parameters:
        return
    try:
        variants = parse_variants(parameters["experiment_variants"])
    except ValueError as error:
        raise ParameterError(f"experiment_variants: {error}") from error
    architectures = {key: value["model"]["architecture"] for key, value in parameters.items()
                     if key in DATASET_NAMESPACES and "model" in value}
    for variant in variants.values():
        for namespace, architecture in architectures.items():
            try:
                _check_architecture(variant.resolve(architecture))
            except ValueError as error:
                raise ParameterError(f"experiment_variants.{variant.name} on {namespace}: {error}") from error


def _check_experiments(parameters: Mapping[str, Any]) -> None:
    """The grid as the experiments pipeline plans it, and its training overrides on each dataset's settings."""
    if "experiments" not in parameters:
        return
    experiments = parameters["experiments"]
    try:
        grid = plan_grid(experiments, parse_variants(parameters.get("experiment_variants") or {}), SYNTHETIC_DATASETS)
    except ValueError as error:
        raise ParameterError(f"experiments: {error}") from error
    for cell in grid.cells:
        namespace = parameters.get(cell.dataset, {})
        if "model" not in namespace:
            continue
        train = {**namespace.get("fusion_training", {}).get("train", {}), **grid.training}
        where = f"experiments.training (on {cell.dataset})"
        try:
            TrainConfig.from_dict(train)
        except ValueError as error:
            raise ParameterError(f"{where}: {error}") from error
        _check_selection_metric(train, namespace["model"]["scheme"], where)


def _check_tune(parameters: Mapping[str, Any]) -> None:
    """The search's metric is a validation metric of the tuned dataset's scheme."""
    namespace = parameters.get(TUNE_DATASET, {})
    if "tune" not in parameters or "model" not in namespace:
        return
    known = metric_names(namespace["model"]["scheme"])
    if parameters["tune"]["metric"] not in known:
        raise ParameterError(f"tune.metric: {parameters['tune']['metric']!r} is not a metric of the scheme "
                             f"'{namespace['model']['scheme']}' of {TUNE_DATASET}; expected one of {list(known)}")


def _check_text_encoder_fits(namespace: Mapping[str, Any], path: str) -> None:
    """The text encoder's config.json gives a vocabulary (ingestion checks token ids against it) and enough layers
    for the text injection layers."""
    setting = namespace["text_encoder"]
    try:
        source = text_encoder_source(setting)
        read_token_limits(source)
        depth = read_text_encoder_depth(source)
        if "model" in namespace:
            _check_architecture(namespace["model"]["architecture"]).check_text_depth(depth)
    except (OSError, ValueError) as error:
        raise ParameterError(f"{path}.text_encoder ({setting!r}): {error}") from error


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
