"""Shared test set-up: no telemetry, offline Hugging Face, and a tiny random BERT."""
import os

import pytest
from tiny_models import tiny_bert
from transformers import AutoTokenizer

from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir
from hub_cache import offline_cache  # noqa: F401 - a fixture for every test module

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    """A random 2-layer BERT beside the embedded tokenizer (whose ids the synthetic text carries)."""
    directory = tmp_path_factory.mktemp("tiny_bert")
    tiny_bert(vocab_size=30522).save_pretrained(directory)
    AutoTokenizer.from_pretrained(embedded_text_encoder_dir(), local_files_only=True).save_pretrained(directory)
    return str(directory)
