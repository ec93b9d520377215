"""Tiny data, a tiny random BERT and untrained stage-1 checkpoints shared by the experiments tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import ARCHITECTURE, TRAIN, tiny_split_arrays

from kuda_pipeline.experiments import DatasetInputs
from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.text_encoder import load_text_encoder
from kuda_pipeline.training.stages import config_to_dict, kuda_config

EVALUATION = {"split": "test", "batch_size": 8, "device": "cpu"}


@pytest.fixture(scope="session")
def tiny_arrays(tiny_bert_dir) -> dict:
    """Split arrays of a 16/8/8-sample CH-SIMS-like corpus with unimodal labels."""
    return tiny_split_arrays(tiny_bert_dir, seed=5)


@pytest.fixture(scope="session")
def tiny_knowledge(tiny_arrays, tiny_bert_dir) -> dict:
    """Untrained stage-1 checkpoints (modality -> state) with the keys and shapes stage 2 loads."""
    config = kuda_config(ARCHITECTURE, tiny_arrays)
    states = {}
    for m in "tva":
        model = UnimodalKnowledgeModel(config, m, load_text_encoder(tiny_bert_dir) if m == "t" else None)
        states[m] = {"config": config_to_dict(config), "modality": m, "state_dict": model.state_dict()}
    return states


@pytest.fixture()
def tiny_inputs(tiny_arrays, tiny_knowledge, tiny_bert_dir) -> DatasetInputs:
    return DatasetInputs(dataset="tiny", arrays=tiny_arrays, knowledge=tiny_knowledge, architecture=ARCHITECTURE,
                         text_encoder=tiny_bert_dir, text_encoder_dir=Path(tiny_bert_dir), train=TRAIN, scheme="sims",
                         evaluation=EVALUATION)
