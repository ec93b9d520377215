"""Project pipelines: one namespace per dataset, each assembled from the same stage templates.

- ``full``: every stage of the embedded synthetic corpora, ``synthetic_sims`` and ``synthetic_mosi``.
- ``data`` (and ``__default__``, what ``kedro run`` and ``kedro viz`` open with): the stages that train nothing
  (synthesis, ingestion, label statistics, translation) over the dataset namespaces of the environment; seconds, and a
  kedro-viz view of a handful of nodes. Kedro-Viz draws every free output of a namespace (each report, metric and
  figure) outside its collapsed group, so ``full``'s collapsed view is two groups and 35 datasets in one row.
- ``paper``: the real datasets ``sims``, ``simsv2``, ``mosi``, ``mosei`` (run with ``--env=paper``), and
  ``paper.comparison``: their test metrics beside the paper's main results.
- one pipeline per dataset namespace: that dataset's stages, plus what it consumes from its knowledge source
  (the source's synthesis, ingestion and translation; not the source's training or evaluation).
- one pipeline per stage (``ingestion``, ``translation``, ``fusion_training``, ...) over the dataset namespaces of
  the environment: its ``stage_pipeline_datasets`` parameter (base: the synthetic ones; ``paper``: the real ones),
  handed over by ``StagePipelineHooks`` when the Kedro context is created.
- ``predict``: new samples (``<ns>.new_samples``, labels optional) through a trained model, per dataset namespace of
  the environment (``--namespaces=<ns>`` for one); not part of ``full``/``paper``.
- ``experiments``: the grid of ``parameters_experiments.yml`` (variants × seeds) over the outputs of ``full``.
- ``tune``: the hyperparameter search of ``parameters_tune.yml`` (Ray Tune) over the outputs of ``full``.

Datasets with unimodal labels pretrain stage 1 on their own labels; the others take their knowledge from
a source dataset whose Chinese text is translated into English (Appendix B): ``KNOWLEDGE_SOURCES``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

from kedro.pipeline import Pipeline

from kuda_pipeline.pipelines import (
    evaluation,
    experiments,
    fusion_training,
    ingestion,
    knowledge_pretraining,
    label_statistics,
    predict,
    synthesis,
    translation,
    tune,
)

SYNTHETIC_DATASETS = ("synthetic_sims", "synthetic_mosi")
PAPER_DATASETS = ("sims", "simsv2", "mosi", "mosei")
TUNE_DATASET = "synthetic_sims"  # the namespace the tune pipeline searches on
KNOWLEDGE_SOURCES = {"synthetic_mosi": "synthetic_sims", "mosi": "sims", "mosei": "simsv2"}
# the stages a dataset consumes from its knowledge source: the source's split arrays and translations
SOURCE_STAGES_CONSUMED = ("synthesis", "ingestion")
STAGE_DATASETS_PARAMETER = "stage_pipeline_datasets"
# the stages of the ``data`` pipeline (``__default__``): everything before training
DATA_STAGES = ("synthesis", "ingestion", "label_statistics", "translation")

_stage_datasets: tuple[str, ...] = SYNTHETIC_DATASETS
# datasets with parameters: base's until a session's context (StagePipelineHooks) says more; kedro-viz and
# `kedro registry list` run without hooks, so they list the base environment's pipelines only
_defined_datasets: tuple[str, ...] = SYNTHETIC_DATASETS


def _namespaced(template: Pipeline, namespace: str, **mapping) -> Pipeline:
    return Pipeline(template, namespace=namespace, **mapping)


def _dataset_stages(namespace: str) -> dict[str, Pipeline]:
    """The stage pipelines of one dataset namespace, in run order."""
    stages: dict[str, Pipeline] = {}
    source = KNOWLEDGE_SOURCES.get(namespace)
    if namespace in SYNTHETIC_DATASETS:
        template = synthesis.create_pipeline(with_english_rendering=namespace in KNOWLEDGE_SOURCES.values())
        stages["synthesis"] = _namespaced(template, namespace)
    stages["ingestion"] = _namespaced(ingestion.create_pipeline(), namespace)
    stages["label_statistics"] = _namespaced(label_statistics.create_pipeline(dataset=namespace), namespace)
    if source is None:
        stages["knowledge_pretraining"] = _namespaced(
            knowledge_pretraining.create_pipeline(), namespace, inputs={"knowledge_arrays": f"{namespace}.split_arrays"}
        )
    else:
        with warnings.catch_warnings():  # the knowledge-transfer edge reads another namespace's datasets on purpose
            warnings.filterwarnings("ignore", message="One or more dataset names contain '.' characters")
            assembly = _namespaced(
                translation.create_assembly_pipeline(),
                namespace,
                inputs={"source_arrays": f"{source}.split_arrays", "source_translations": f"{source}.translations_en"},
            )
        stages["translation"] = _namespaced(translation.create_translation_pipeline(), source) + assembly
        stages["knowledge_pretraining"] = _namespaced(knowledge_pretraining.create_pipeline(), namespace)
    stages["fusion_training"] = _namespaced(fusion_training.create_pipeline(), namespace)
    stages["evaluation"] = _namespaced(evaluation.create_pipeline(), namespace)
    return stages


def _union(pipelines: Iterable[Pipeline]) -> Pipeline:
    return sum(pipelines, Pipeline([]))


def build_pipelines(
    stage_datasets: Sequence[str] = SYNTHETIC_DATASETS,
    defined_datasets: Sequence[str] = SYNTHETIC_DATASETS + PAPER_DATASETS,
) -> dict[str, Pipeline]:
    """Every pipeline of the project; the per-stage ones cover the dataset namespaces ``stage_datasets``.

    Dataset pipelines (and ``full``, ``paper``, ``experiments``) exist only for ``defined_datasets``, the namespaces
    whose parameters the environment holds (a transfer target also needs its source's), so that no registered
    pipeline names parameters the environment lacks (kedro-viz would warn about every one).
    """
    defined = [ns for ns in SYNTHETIC_DATASETS + PAPER_DATASETS
               if ns in defined_datasets and KNOWLEDGE_SOURCES.get(ns, ns) in defined_datasets]
    per_dataset = {ns: _dataset_stages(ns) for ns in defined}
    pipelines = {}
    for ns, stages in per_dataset.items():
        source_stages = per_dataset.get(KNOWLEDGE_SOURCES.get(ns), {})
        consumed = (source_stages[stage] for stage in SOURCE_STAGES_CONSUMED if stage in source_stages)
        pipelines[ns] = _union(stages.values()) + _union(consumed)
    stage_names = dict.fromkeys(stage for stages in per_dataset.values() for stage in stages)
    for stage in stage_names:
        pipelines[stage] = _union(per_dataset[ns][stage] for ns in stage_datasets
                                  if ns in per_dataset and stage in per_dataset[ns])
    pipelines["predict"] = _union(_namespaced(predict.create_pipeline(), ns) for ns in stage_datasets)
    if all(ns in per_dataset for ns in SYNTHETIC_DATASETS):
        pipelines["full"] = _union(pipelines[ns] for ns in SYNTHETIC_DATASETS)
    if all(ns in per_dataset for ns in PAPER_DATASETS):
        pipelines["paper"] = _union(pipelines[ns] for ns in PAPER_DATASETS) + evaluation.create_comparison_pipeline(
            PAPER_DATASETS)
    if "full" in pipelines:
        pipelines["experiments"] = experiments.create_pipeline(datasets=SYNTHETIC_DATASETS)
        pipelines["tune"] = tune.create_pipeline(dataset=TUNE_DATASET)
    data_datasets = [ns for ns in stage_datasets if ns in per_dataset] or list(per_dataset)
    pipelines["data"] = _union(per_dataset[ns][stage] for ns in data_datasets for stage in DATA_STAGES
                               if stage in per_dataset[ns])
    pipelines["__default__"] = pipelines["data"]
    return pipelines


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines (per-stage ones over the current environment's datasets)."""
    return build_pipelines(_stage_datasets, _defined_datasets)


def use_stage_datasets(datasets: Sequence[str]) -> bool:
    """Make the per-stage pipelines cover ``datasets``; True when that changed the registry.

    A ValueError names any namespace the project does not define.
    """
    datasets = tuple(datasets)
    known = SYNTHETIC_DATASETS + PAPER_DATASETS
    unknown = [ns for ns in datasets if ns not in known]
    if unknown or not datasets:
        raise ValueError(f"parameter {STAGE_DATASETS_PARAMETER} must list dataset namespaces among {list(known)}, "
                         f"got {list(datasets)}")
    global _stage_datasets  # noqa: PLW0603 - the registry Kedro loads takes no arguments
    changed = datasets != _stage_datasets
    _stage_datasets = datasets
    return changed


def use_defined_datasets(datasets: Sequence[str]) -> bool:
    """Register dataset pipelines only for ``datasets`` (those with parameters); True when that changed the registry."""
    global _defined_datasets  # noqa: PLW0603 - the registry Kedro loads takes no arguments
    datasets = tuple(ns for ns in SYNTHETIC_DATASETS + PAPER_DATASETS if ns in datasets)
    changed = datasets != _defined_datasets
    _defined_datasets = datasets
    return changed
