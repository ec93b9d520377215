"""Nodes receive their validated parameter sections as objects; the catalog keeps the dicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuda_pipeline.pipeline_registry import build_pipelines
from kuda_pipeline.pipelines._settings import (
    FusionTrainingSettings,
    KnowledgePretrainingSettings,
    with_settings,
)
from kuda_pipeline.training.config import TrainConfig

FUSION_TRAINING = {"checkpoint_dir": "data/checkpoints", "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-4}}


@with_settings
def received(model: dict, fusion_training: FusionTrainingSettings):
    return model, fusion_training


def test_an_annotated_section_arrives_as_its_object_and_the_others_as_given():
    model, settings = received({"scheme": "sims"}, FUSION_TRAINING)
    assert model == {"scheme": "sims"}
    assert isinstance(settings, FusionTrainingSettings) and isinstance(settings.train, TrainConfig)
    assert (settings.train.epochs, settings.train.batch_size, settings.checkpoint_dir) == (3, 8, Path("data/checkpoints"))
    assert FUSION_TRAINING["train"] == {"epochs": 3, "batch_size": 8, "learning_rate": 1e-4}  # the dict untouched
    assert received({}, settings)[1] is settings  # an object passes through


def test_an_invalid_section_fails_with_the_config_message():
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]"):
        received({}, {"train": {"epoch": 3, "batch_size": 8, "learning_rate": 1e-4}})


def test_stage1_settings_keep_each_modality_and_an_absent_checkpoint_dir_is_none():
    section = {"scheme": "sims", "checkpoint_dir": None,
               **{m: {"loss": "mse", "train": {"epochs": e, "batch_size": 4, "learning_rate": 1e-3}}
                  for m, e in zip("tva", (5, 6, 7))}}
    settings = KnowledgePretrainingSettings.from_parameters(section)
    assert settings.checkpoint_dir is None and settings.scheme == "sims"
    assert {m: (s.loss, s.train.epochs) for m, s in settings.modalities.items()} == {
        "t": ("mse", 5), "v": ("mse", 6), "a": ("mse", 7)}


def test_section_objects_are_not_dataclasses_so_kedro_leaves_the_catalog_dicts_alone():
    from kedro.validation.type_extractor import TypeExtractor

    pipelines = build_pipelines(defined_datasets=("synthetic_sims", "synthetic_mosi"))
    assert TypeExtractor(pipelines).extract_types_from_pipelines() == {}
