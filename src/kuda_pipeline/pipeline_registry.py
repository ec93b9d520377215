"""Project pipelines: one namespace per dataset, each assembled from the same stage templates.

- ``full`` (and ``__default__``): the embedded synthetic corpora, ``synthetic_sims`` and ``synthetic_mosi``.
- ``paper``: the real datasets ``sims``, ``simsv2``, ``mosi``, ``mosei`` (run with ``--env=paper``).
- one pipeline per dataset namespace and one per stage (all namespaces), for partial runs.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from kuda_pipeline.pipelines import ingestion, label_statistics, synthesis

SYNTHETIC_DATASETS = ("synthetic_sims", "synthetic_mosi")
PAPER_DATASETS = ("sims", "simsv2", "mosi", "mosei")
WITH_UNIMODAL_LABELS = {"synthetic_sims", "sims", "simsv2"}


def _dataset_stages(namespace: str) -> dict[str, Pipeline]:
    """The stage pipelines of one dataset, namespaced (synthesis only for the synthetic corpora)."""
    stages = {
        "ingestion": ingestion.create_pipeline(),
        "label_statistics": label_statistics.create_pipeline(),
    }
    if namespace in SYNTHETIC_DATASETS:
        with_rendering = namespace in WITH_UNIMODAL_LABELS
        stages = {"synthesis": synthesis.create_pipeline(with_english_rendering=with_rendering), **stages}
    return {stage: Pipeline(template, namespace=namespace) for stage, template in stages.items()}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    per_dataset = {ns: _dataset_stages(ns) for ns in SYNTHETIC_DATASETS + PAPER_DATASETS}
    pipelines: dict[str, Pipeline] = {ns: sum(stages.values(), Pipeline([])) for ns, stages in per_dataset.items()}
    stage_names = {stage for stages in per_dataset.values() for stage in stages}
    for stage in sorted(stage_names):
        pipelines[stage] = sum(
            (stages[stage] for ns, stages in per_dataset.items() if stage in stages and ns in SYNTHETIC_DATASETS),
            Pipeline([]),
        )
    pipelines["full"] = sum((pipelines[ns] for ns in SYNTHETIC_DATASETS), Pipeline([]))
    pipelines["paper"] = sum((pipelines[ns] for ns in PAPER_DATASETS), Pipeline([]))
    pipelines["__default__"] = pipelines["full"]
    return pipelines
