"""The two training stages and inference, from split arrays and plain settings (no Kedro here).

Stage 1 (knowledge injection): one modality's encoder + adapter + decoder on its unimodal labels.
Stage 2 (fusion): the whole KuDA, stage-1 weights loaded, adapters and decoders frozen.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from kuda_pipeline.data.contract import UNIMODAL_LABEL_KEYS, SplitArrays
from kuda_pipeline.data.dataset import make_loader
from kuda_pipeline.digest import content_digest
from kuda_pipeline.evaluation.metrics import compute_metrics
from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.kuda import KuDA, LoadReport
from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.objectives import fusion_step, knowledge_step
from kuda_pipeline.model.text_encoder import load_text_encoder
from kuda_pipeline.training import distributed
from kuda_pipeline.training.config import TrainConfig
from kuda_pipeline.training.device import resolve_device
from kuda_pipeline.training.fit import FitResult, fit
from kuda_pipeline.training.loop import EpochResult, evaluate
from kuda_pipeline.training.seeding import seed_everything

logger = logging.getLogger(__name__)


@dataclass
class StageResult:
    """A trained stage: the selected weights, the per-epoch history and the selected epoch's validation metrics."""

    state: dict[str, Any]  # {"config": plain dict, "state_dict": tensors}
    history: list[dict[str, float]]
    best_epoch: int
    valid_metrics: dict[str, float]


def kuda_config(architecture: Mapping[str, Any], arrays: SplitArrays) -> KudaConfig:
    """The model config: ``architecture`` from conf, sequence lengths and feature sizes read from the data."""
    train = arrays["train"]
    shapes = {
        "text_length": train["text_bert"].shape[2],
        "vision_length": train["vision"].shape[1],
        "vision_dim": train["vision"].shape[2],
        "audio_length": train["audio"].shape[1],
        "audio_dim": train["audio"].shape[2],
    }
    return KudaConfig.from_dict({**architecture, **shapes})


def config_to_dict(config: KudaConfig) -> dict[str, Any]:
    """Plain values only, so a checkpoint holding it loads with ``weights_only=True``."""
    return dataclasses.asdict(config)


def _metric_fn(scheme: str, prediction_key: str = "prediction", label_key: str = "label"):
    def metrics(result: EpochResult) -> dict[str, float]:
        return compute_metrics(result.predictions[prediction_key], result.targets[label_key], scheme)

    return metrics


def _loaders(arrays: SplitArrays, train: TrainConfig):
    """Training (shuffled by ``train.seed``) and validation loaders; under torchrun, this rank's shards of them."""
    topology = distributed.join_process_group(resolve_device(train.device))
    if topology.distributed:
        if train.group_by_length:
            raise ValueError(f"group_by_length=True is not supported with {topology.world_size} training processes "
                             "(each rank draws its shard from one DistributedSampler permutation): set it to false")
        return distributed.sharded_loaders(arrays["train"], arrays["valid"], train.batch_size, train.seed, topology)
    return (
        make_loader(arrays["train"], train.batch_size, shuffle=True, seed=train.seed,
                    group_by_length=train.group_by_length),
        make_loader(arrays["valid"], train.batch_size, shuffle=False, seed=train.seed),
    )


def _data_digest(arrays: SplitArrays) -> str:
    """The digest of the splits training reads (train and valid)."""
    return content_digest({split: arrays[split] for split in ("train", "valid")})


def _best(model: torch.nn.Module, result: FitResult) -> dict[str, float]:
    model.load_state_dict(result.best_state_dict)
    row = next(row for row in result.history if row["epoch"] == result.best_epoch)
    return {key.removeprefix("valid_"): value for key, value in row.items() if key.startswith("valid_")}


def pretrain_knowledge(
    modality: str,
    arrays: SplitArrays,
    architecture: Mapping[str, Any],
    text_encoder_dir: Path | str,
    train: TrainConfig,
    scheme: str,
    loss: str = "mse",
    checkpoint_dir: Path | None = None,
) -> StageResult:
    """Stage 1 for one modality on the unimodal labels of ``arrays`` (a knowledge source).

    Every RNG is seeded with ``train.seed`` before the model is built, so the result depends on the seed and the
    inputs only, not on what ran before in the process.
    """
    label_key = UNIMODAL_LABEL_KEYS[modality]
    if label_key not in arrays["train"]:
        raise ValueError(f"stage 1 of modality {modality!r} needs '{label_key}' in the knowledge source's arrays")
    config = kuda_config(architecture, arrays)
    seed_everything(train.seed)
    text_encoder = load_text_encoder(text_encoder_dir) if modality == "t" else None
    model = UnimodalKnowledgeModel(config, modality, text_encoder)
    train_loader, valid_loader = _loaders(arrays, train)
    identity = None if checkpoint_dir is None else {
        "stage": "knowledge", "modality": modality, "model": config_to_dict(config), "loss": loss, "scheme": scheme,
        "text_encoder": str(text_encoder_dir), "data": _data_digest(arrays),
    }
    result = fit(model, train_loader, valid_loader, partial(knowledge_step, loss_kind=loss),
                 _metric_fn(scheme), train, checkpoint_dir, checkpoint_identity=identity)
    valid_metrics = _best(model, result)
    logger.info("stage 1 (%s): best epoch %d, valid %s", modality, result.best_epoch, valid_metrics)
    state = {"config": config_to_dict(config), "modality": modality, "state_dict": model.state_dict()}
    return StageResult(state, result.history, result.best_epoch, valid_metrics)


def build_kuda(config: KudaConfig, text_encoder_dir: Path | str) -> KuDA:
    """A KuDA whose text branch starts from the checkpoint in ``text_encoder_dir``."""
    text_encoder = load_text_encoder(text_encoder_dir) if "t" in config.modalities else None
    if text_encoder is not None:
        config.check_text_depth(text_encoder.config.num_hidden_layers)
    return KuDA(config, text_encoder)


def load_report_summary(report: LoadReport) -> dict[str, Any]:
    """JSON-friendly view of what stage 2 took from stage 1: the number of tensors loaded, and per layer skipped
    whole, each of its tensors with the checkpoint's and the model's shape."""
    return {
        "loaded": len(report.loaded),
        "skipped": {layer: {name: {"checkpoint": list(src), "model": list(dst)} for name, (src, dst) in shapes.items()}
                    for layer, shapes in report.skipped.items()},
    }


def train_fusion(
    arrays: SplitArrays,
    knowledge: Mapping[str, Mapping[str, Any]],
    architecture: Mapping[str, Any],
    text_encoder_dir: Path | str,
    train: TrainConfig,
    scheme: str,
    checkpoint_dir: Path | None = None,
    freeze_knowledge: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> tuple[StageResult, LoadReport]:
    """Stage 2: load ``knowledge`` (modality → stage-1 state), freeze adapters and decoders, fit on the task.

    With ``freeze_knowledge=False`` (the "w/o KIP" ablation) ``knowledge`` is ignored: nothing is loaded and
    nothing frozen, so adapters and decoders train from their initial weights together with the rest. Every RNG
    is seeded with ``train.seed`` before the model is built.
    """
    config = kuda_config(architecture, arrays)
    seed_everything(train.seed)
    model = build_kuda(config, text_encoder_dir)
    if freeze_knowledge:
        report = model.load_knowledge({m: knowledge[m]["state_dict"] for m in config.modalities if m in knowledge})
        logger.info("stage 2: loaded %d stage-1 tensors, skipped %d layers whole (shapes differ): %s",
                    len(report.loaded), len(report.skipped), sorted(report.skipped))
        model.freeze_knowledge()
    else:
        report = LoadReport(loaded=[], skipped={})
        logger.info("stage 2 without stage-1 knowledge: nothing loaded, nothing frozen")
    train_loader, valid_loader = _loaders(arrays, train)
    identity = None if checkpoint_dir is None else {
        "stage": "fusion", "model": config_to_dict(config), "scheme": scheme, "text_encoder": str(text_encoder_dir),
        "freeze_knowledge": freeze_knowledge, "data": _data_digest(arrays),
        "knowledge": content_digest({m: knowledge[m]["state_dict"] for m in sorted(knowledge)}) if freeze_knowledge
        else None,
    }
    result = fit(model, train_loader, valid_loader, fusion_step, _metric_fn(scheme), train, checkpoint_dir,
                 on_epoch=on_epoch, checkpoint_identity=identity)
    valid_metrics = _best(model, result)
    logger.info("stage 2: best epoch %d, valid %s", result.best_epoch, valid_metrics)
    state = {"config": config_to_dict(config), "state_dict": model.state_dict()}
    return StageResult(state, result.history, result.best_epoch, valid_metrics), report


def restore_kuda(state: Mapping[str, Any], text_encoder_dir: Path | str) -> KuDA:
    """The stage-2 model saved by :func:`train_fusion`, in eval mode."""
    model = build_kuda(KudaConfig.from_dict(state["config"]), text_encoder_dir)
    model.load_state_dict(state["state_dict"])
    return model.eval()


def predict_split(
    model: KuDA, split: Mapping[str, np.ndarray], scheme: str, batch_size: int, device: str = "auto"
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Predictions (id, label, prediction, pred_<m>, label_<m>) and metrics of one split."""
    loader = make_loader(split, batch_size, shuffle=False, seed=0)
    result, metrics = evaluate(model, loader, fusion_step, _metric_fn(scheme), device=device)
    columns = {"id": np.asarray(split["id"]), "label": result.targets["label"],
               "prediction": result.predictions["prediction"]}
    columns.update({key: value for key, value in result.predictions.items() if key != "prediction"})
    columns.update({key: value for key, value in result.targets.items() if key != "label"})
    return pd.DataFrame(columns), metrics
