"""Tiny data, a tiny random BERT and untrained stage-1 checkpoints shared by the experiments tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer, BertConfig, BertModel

from kuda_pipeline.data.mmsa import ingest_mmsa
from kuda_pipeline.data.synthetic import SyntheticSpec, generate_corpus
from kuda_pipeline.experiments import DatasetInputs
from kuda_pipeline.model.knowledge import UnimodalKnowledgeModel
from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir, load_text_encoder
from kuda_pipeline.training.stages import config_to_dict, kuda_config

SPEC = SyntheticSpec(n_train=16, n_valid=8, n_test=8, text_length=16, vision_length=5, vision_dim=6,
                     audio_length=7, audio_dim=4, language="zh", seed=5)
SEQUENCE = {"hidden_size": 8, "num_layers": 2, "num_heads": 2, "ffn_size": 8, "dropout": 0.1}
ADAPTER = {"num_blocks": 2, "num_heads": 2, "num_layers": 1, "dropout": 0.1}
ARCHITECTURE = dict(
    text_injection_layers=[1, 2], vision_encoder=SEQUENCE, audio_encoder=SEQUENCE, vision_adapter=ADAPTER,
    audio_adapter=ADAPTER, fusion_dim=16, fusion_blocks=1, fusion_heads=2, fusion_head_dim=8,
    fusion_ffn_size=16, head_hidden_sizes=[8], dropout=0.1,
)
TRAIN = {"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "device": "cpu", "seed": 0}
EVALUATION = {"split": "test", "batch_size": 8, "device": "cpu"}


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    """A random 2-layer BERT beside the embedded tokenizer (whose ids the synthetic text carries)."""
    directory = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    BertModel(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(embedded_text_encoder_dir(), local_files_only=True).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def tiny_arrays(tiny_bert_dir) -> dict:
    """Split arrays of a 16/8/8-sample CH-SIMS-like corpus with unimodal labels."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir, local_files_only=True)
    raw, _ = generate_corpus(SPEC, tokenizer)
    return ingest_mmsa(raw, source="tiny.pkl", label_range=(-1.0, 1.0)).splits


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
