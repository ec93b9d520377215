"""Nodes of stage 2 (dynamic attention fusion)."""

from __future__ import annotations

from typing import Any

from kuda_pipeline.incremental import reusable
from kuda_pipeline.pipelines._common import metric_series, text_encoder_source
from kuda_pipeline.pipelines._settings import FusionTrainingSettings, with_settings
from kuda_pipeline.training.stages import load_report_summary, train_fusion


@reusable
@with_settings
def train_fusion_model(
    split_arrays: dict,
    knowledge_t: dict,
    knowledge_v: dict,
    knowledge_a: dict,
    text_encoder: str,
    model: dict,
    fusion_training: FusionTrainingSettings,
) -> tuple[dict, dict[str, Any], dict[str, list]]:
    """KuDA on the multimodal task, stage-1 knowledge loaded and frozen: selected weights, summary, curves.

    The summary's ``architecture`` is the model config as resolved (fidelity options set from the reference).
    """
    result, report = train_fusion(
        split_arrays,
        {"t": knowledge_t, "v": knowledge_v, "a": knowledge_a},
        model["architecture"],
        text_encoder_source(text_encoder),
        fusion_training.train,
        scheme=model["scheme"],
        checkpoint_dir=fusion_training.checkpoint_dir,
    )
    summary = {
        "best_epoch": result.best_epoch,
        "valid": result.valid_metrics,
        "history": result.history,
        "knowledge_loading": load_report_summary(report),
        "architecture": result.state["config"],
    }
    return result.state, summary, metric_series(result.history)
