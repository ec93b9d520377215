"""Shared test set-up: no telemetry, offline Hugging Face, and a tiny random BERT."""
import os

# before anything imports huggingface_hub, which reads these once
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
from tiny_models import tiny_bert  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir  # noqa: E402
from hub_cache import offline_cache  # noqa: F401, E402 - a fixture for every test module


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> str:
    """A random 2-layer BERT beside the embedded tokenizer (whose ids the synthetic text carries)."""
    directory = tmp_path_factory.mktemp("tiny_bert")
    tiny_bert(vocab_size=30522).save_pretrained(directory)
    AutoTokenizer.from_pretrained(embedded_text_encoder_dir(), local_files_only=True).save_pretrained(directory)
    return str(directory)


@pytest.fixture(autouse=True)
def registry_datasets():
    """A session's hooks point the pipeline registry at its environment's datasets (a module-level choice, as
    Kedro's registry takes no arguments): restore the default after every test, so no test sees another's env."""
    from kedro.framework import project

    from kuda_pipeline import pipeline_registry

    chosen = pipeline_registry._stage_datasets, pipeline_registry._defined_datasets
    yield
    if (pipeline_registry._stage_datasets, pipeline_registry._defined_datasets) != chosen:
        pipeline_registry._stage_datasets, pipeline_registry._defined_datasets = chosen
        if project.PACKAGE_NAME:
            project.pipelines.configure(f"{project.PACKAGE_NAME}.pipeline_registry")
