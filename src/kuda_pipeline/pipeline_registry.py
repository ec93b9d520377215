"""Project pipelines: one namespace per dataset, each assembled from the same stage templates.

- ``full`` (and ``__default__``): the embedded synthetic corpora, ``synthetic_sims`` and ``synthetic_mosi``.
- ``paper``: the real datasets ``sims``, ``simsv2``, ``mosi``, ``mosei`` (run with ``--env=paper``).
- one pipeline per dataset namespace and one per stage (synthetic namespaces), for partial runs.
- ``experiments``: the grid of ``parameters_experiments.yml`` (variants × seeds) over the outputs of ``full``.

Datasets with unimodal labels pretrain stage 1 on their own labels; the others take their knowledge from
a source dataset whose Chinese text is translated into English (Appendix B): ``KNOWLEDGE_SOURCES``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from kuda_pipeline.pipelines import (
    evaluation,
    experiments,
    fusion_training,
    ingestion,
    knowledge_pretraining,
    label_statistics,
    synthesis,
    translation,
)

SYNTHETIC_DATASETS = ("synthetic_sims", "synthetic_mosi")
PAPER_DATASETS = ("sims", "simsv2", "mosi", "mosei")
KNOWLEDGE_SOURCES = {"synthetic_mosi": "synthetic_sims", "mosi": "sims", "mosei": "simsv2"}


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
    stages["label_statistics"] = _namespaced(label_statistics.create_pipeline(), namespace)
    if source is None:
        stages["knowledge_pretraining"] = _namespaced(
            knowledge_pretraining.create_pipeline(), namespace, inputs={"knowledge_arrays": f"{namespace}.split_arrays"}
        )
    else:
        stages["translation"] = _namespaced(translation.create_translation_pipeline(), source) + _namespaced(
            translation.create_assembly_pipeline(),
            namespace,
            inputs={"source_arrays": f"{source}.split_arrays", "source_translations": f"{source}.translations_en"},
        )
        stages["knowledge_pretraining"] = _namespaced(knowledge_pretraining.create_pipeline(), namespace)
    stages["fusion_training"] = _namespaced(fusion_training.create_pipeline(), namespace)
    stages["evaluation"] = _namespaced(evaluation.create_pipeline(), namespace)
    return stages


def _union(pipelines) -> Pipeline:
    return sum(pipelines, Pipeline([]))


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    per_dataset = {ns: _dataset_stages(ns) for ns in SYNTHETIC_DATASETS + PAPER_DATASETS}
    pipelines = {ns: _union(stages.values()) for ns, stages in per_dataset.items()}
    for ns, source in KNOWLEDGE_SOURCES.items():
        pipelines[ns] = pipelines[ns] + pipelines[source]
    stage_names = dict.fromkeys(stage for stages in per_dataset.values() for stage in stages)
    for stage in stage_names:
        pipelines[stage] = _union(per_dataset[ns][stage] for ns in SYNTHETIC_DATASETS if stage in per_dataset[ns])
    pipelines["full"] = _union(pipelines[ns] for ns in SYNTHETIC_DATASETS)
    pipelines["paper"] = _union(pipelines[ns] for ns in PAPER_DATASETS)
    pipelines["experiments"] = experiments.create_pipeline(datasets=SYNTHETIC_DATASETS)
    pipelines["__default__"] = pipelines["full"]
    return pipelines
