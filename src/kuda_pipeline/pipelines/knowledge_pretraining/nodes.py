"""Nodes of stage 1 (knowledge-injection pretraining)."""

from __future__ import annotations

from typing import Any

from kuda_pipeline.incremental import reusable
from kuda_pipeline.pipelines._common import metric_series, text_encoder_source
from kuda_pipeline.pipelines._settings import KnowledgePretrainingSettings, with_settings
from kuda_pipeline.training.stages import pretrain_knowledge


@reusable
@with_settings
def pretrain_modality_knowledge(
    knowledge_arrays: dict, text_encoder: str, model: dict, knowledge_pretraining: KnowledgePretrainingSettings,
    modality: str,
) -> tuple[dict, dict[str, Any], dict[str, list]]:
    """Encoder + adapter + decoder of ``modality`` on the knowledge source's unimodal labels; summary; curves."""
    settings = knowledge_pretraining.modalities[modality]
    checkpoint_dir = knowledge_pretraining.checkpoint_dir
    result = pretrain_knowledge(
        modality,
        knowledge_arrays,
        model["architecture"],
        text_encoder_source(text_encoder),
        settings.train,
        scheme=knowledge_pretraining.scheme,
        loss=settings.loss,
        checkpoint_dir=checkpoint_dir / modality if checkpoint_dir else None,
    )
    summary = {"best_epoch": result.best_epoch, "valid": result.valid_metrics, "history": result.history}
    return result.state, summary, metric_series(result.history)
