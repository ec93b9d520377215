"""Text encoders and translation models named by a local directory or a Hugging Face id (never the network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import constants as hub_constants
from transformers import BertConfig, BertModel

from kuda_pipeline.parameters import check_pretrained_models
from kuda_pipeline.pretrained import (
    PretrainedUnavailableError,
    check_available,
    pretrained_source,
    unavailable_reason,
)
from hub_cache import fake_hub_cache
from project_copy import copy_project, run_in_session

@pytest.mark.parametrize(
    ("setting", "expected"),
    [("bert-base-chinese", "bert-base-chinese"), ("Helsinki-NLP/opus-mt-zh-en", "Helsinki-NLP/opus-mt-zh-en"),
     ("data/06_models/text_encoders/bert-base-chinese", Path("data/06_models/text_encoders/bert-base-chinese")),
     ("/models/bert", Path("/models/bert")), ("./bert", Path("bert"))],
)
def test_a_setting_is_a_hub_id_or_a_directory(setting, expected):
    assert pretrained_source(setting) == expected


def test_an_existing_directory_wins_over_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bert-base-chinese").mkdir()

    assert pretrained_source("bert-base-chinese") == Path("bert-base-chinese")
    assert unavailable_reason("bert-base-chinese", "sims.text_encoder") is None


def test_a_missing_directory_names_the_parameter_and_both_remedies(tmp_path):
    with pytest.raises(PretrainedUnavailableError) as error:
        check_available(str(tmp_path / "absent"), "sims.text_encoder")

    message = str(error.value)
    assert "sims.text_encoder" in message and str(tmp_path / "absent") in message
    assert "no such directory" in message and "hub id" in message


def test_offline_a_hub_id_must_be_in_the_cache(offline_cache, tiny_bert_dir):
    reason = unavailable_reason("bert-base-chinese", "sims.text_encoder")
    assert "'bert-base-chinese'" in reason and "HF_HUB_OFFLINE=1" in reason and str(offline_cache) in reason
    assert "network access" in reason and "save_pretrained" in reason

    fake_hub_cache(offline_cache, "bert-base-chinese", Path(tiny_bert_dir))

    assert unavailable_reason("bert-base-chinese", "sims.text_encoder") is None


def test_online_an_uncached_hub_id_is_left_to_the_download(offline_cache, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)

    assert unavailable_reason("bert-base-uncased", "mosi.text_encoder") is None


def test_only_the_models_a_run_uses_are_checked(offline_cache, tmp_path):
    absent = str(tmp_path / "absent")
    parameters = {
        "sims": {"text_encoder": "bert-base-chinese",
                 "translation": {"backend": "precomputed", "fallback": "seq2seq",
                                 "seq2seq": {"model": "Helsinki-NLP/opus-mt-zh-en"}}},
        "mosi": {"text_encoder": absent},
    }

    check_pretrained_models(parameters, {"params:sims.ingestion", "params:sims.translation"})
    with pytest.raises(PretrainedUnavailableError) as error:
        check_pretrained_models(parameters, {"params:sims.text_encoder", "params:mosi.text_encoder"})
    assert "sims.text_encoder" in str(error.value) and "mosi.text_encoder" in str(error.value)

    parameters["sims"]["translation"]["backend"] = "seq2seq"
    with pytest.raises(PretrainedUnavailableError, match=r"sims\.translation\.seq2seq\.model .*'Helsinki-NLP"):
        check_pretrained_models(parameters, {"params:sims.translation"})


@pytest.mark.slow
def test_a_hub_id_loads_from_the_cache_under_hf_home(tmp_path, tiny_bert_dir):
    hf_home = tmp_path / "hf_home"
    fake_hub_cache(hf_home / "hub", "bert-base-chinese", Path(tiny_bert_dir))
    script = ("from kuda_pipeline.model.text_encoder import load_text_encoder; "
              "from kuda_pipeline.pretrained import pretrained_source; "
              "print(load_text_encoder(pretrained_source('bert-base-chinese')).config.hidden_size)")
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)

    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)

    assert completed.stdout.strip().splitlines()[-1] == str(BertConfig.from_pretrained(tiny_bert_dir).hidden_size)


def test_an_uncached_text_encoder_stops_the_run_before_any_node(tmp_path, monkeypatch, offline_cache):
    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")
    (project / "conf" / "local" / "parameters.yml").write_text(
        json.dumps({"synthetic_sims": {"text_encoder": "bert-base-chinese"}}))

    with pytest.raises(PretrainedUnavailableError, match=r"synthetic_sims\.text_encoder is the Hugging Face id "
                                                         r"'bert-base-chinese'"):
        run_in_session(project, ["synthetic_sims"], {})

    assert not [path for path in (project / "data").rglob("*") if path.is_file()]
