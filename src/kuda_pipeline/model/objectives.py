"""Per-step objectives for the generic epoch loop: stage 1 (knowledge pretraining) and stage 2 (fusion)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kuda_pipeline.data.dataset import Batch
from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.kuda import KuDA
from kuda_pipeline.model.losses import task_loss


@dataclass
class StepOutput:
    """One step's loss (with graph), detached predictions and targets (each (B,)), and loss parts as floats."""

    loss: torch.Tensor  # scalar
    predictions: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    parts: dict[str, float]


def knowledge_step(model: UnimodalKnowledgeModel, batch: Batch, loss_kind: str = "mse") -> StepOutput:
    """Stage 1: the task loss of the unimodal prediction against `batch.unimodal_labels[model.modality]`.

    `loss_kind` defaults to "mse" as in the public code's pretraining; "mae" is the paper's task loss.
    """
    if model.modality not in batch.unimodal_labels:
        raise ValueError(
            f"stage 1 of modality {model.modality!r} needs unimodal labels for it; "
            f"the batch has {sorted(batch.unimodal_labels)}"
        )
    target = batch.unimodal_labels[model.modality]
    prediction = model(**batch.inputs).prediction
    loss = task_loss(prediction, target, loss_kind)
    return StepOutput(loss, {"prediction": prediction.detach()}, {"label": target}, {"task": loss.item()})


def fusion_step(model: KuDA, batch: Batch) -> StepOutput:
    """Stage 2: L = L_task + alpha * L_CE (eq. 15) with the configured task loss.

    Predictions: "prediction" and "pred_<m>" per modality; targets: "label" and "label_<m>" for the
    unimodal labels the batch has.
    """
    output = model(**batch.inputs, label=batch.label)
    task = task_loss(output.prediction, batch.label, model.config.task_loss)
    loss = task + model.config.alpha * output.ce_loss
    predictions = {"prediction": output.prediction.detach()}
    predictions.update({f"pred_{m}": p.detach() for m, p in output.unimodal_predictions.items()})
    targets = {"label": batch.label}
    targets.update({f"label_{m}": y for m, y in batch.unimodal_labels.items()})
    return StepOutput(loss, predictions, targets, {"task": task.item(), "ce": output.ce_loss.item()})
