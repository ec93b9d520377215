"""Per-stage pipelines follow the environment: ``kedro run --env=paper --pipelines=ingestion`` ingests the real data.

Kedro loads ``register_pipelines()`` without arguments and caches the result per process, so the environment's
``stage_pipeline_datasets`` parameter is handed to the registry when the context is created (before the session
looks the requested pipelines up), and Kedro's cache is reset when the namespaces change.
"""

from __future__ import annotations

from typing import Any

from kedro.framework import project
from kedro.framework.hooks import hook_impl

from kuda_pipeline.pipeline_registry import (
    PAPER_DATASETS,
    STAGE_DATASETS_PARAMETER,
    SYNTHETIC_DATASETS,
    use_defined_datasets,
    use_stage_datasets,
)


class StagePipelineHooks:
    """Reads ``stage_pipeline_datasets`` (default: the synthetic namespaces) and which dataset namespaces have
    parameters into the pipeline registry."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        datasets = context.params.get(STAGE_DATASETS_PARAMETER, SYNTHETIC_DATASETS)
        defined = [ns for ns in SYNTHETIC_DATASETS + PAPER_DATASETS if ns in context.params]
        changed = use_stage_datasets(datasets)
        changed = use_defined_datasets(defined) or changed
        if changed and project.PACKAGE_NAME:
            project.pipelines.configure(f"{project.PACKAGE_NAME}.pipeline_registry")
