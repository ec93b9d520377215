"""The predict pipeline on an in-memory catalog: new samples without labels → a predictions table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from tiny_models import ARCHITECTURE
from transformers import AutoTokenizer

from kuda_pipeline.data.mmsa import MMSAFormatError, RawMMSA, TokenLimits, ingest_new_samples
from kuda_pipeline.data.synthetic import SyntheticSpec, generate_corpus
from kuda_pipeline.pipelines import predict
from kuda_pipeline.serving import build_pyfunc_model
from kuda_pipeline.serving.prediction import attention_shares, dominant_modalities, sentiment_classes
from kuda_pipeline.training.stages import build_kuda, kuda_config

SPEC = SyntheticSpec(n_train=6, n_valid=3, n_test=3, text_length=16, vision_length=5, vision_dim=6,
                     audio_length=7, audio_dim=4, seed=3)
LIMITS = TokenLimits(vocab_size=30522, max_positions=64)
LABEL_KEYS = ("regression_labels", "regression_labels_T", "regression_labels_V", "regression_labels_A")


@pytest.fixture(scope="module")
def corpus(tiny_bert_dir):
    mmsa, _ = generate_corpus(SPEC, AutoTokenizer.from_pretrained(tiny_bert_dir))
    return mmsa


@pytest.fixture(scope="module")
def fusion_model(corpus, tiny_bert_dir):
    """An untrained tiny KuDA's stage-2 state, shaped by the corpus (what `train_fusion` saves)."""
    torch.manual_seed(0)
    arrays = {"train": ingest_new_samples(corpus["train"], "train.pkl", (-1.0, 1.0), token_limits=LIMITS)}
    config = kuda_config(ARCHITECTURE, arrays)
    return {"config": dataclasses.asdict(config), "state_dict": build_kuda(config, tiny_bert_dir).state_dict()}


def unlabelled(split: dict) -> dict:
    return {key: value for key, value in split.items() if key not in LABEL_KEYS}


def run_predict(new_samples, fusion_model, tiny_bert_dir, model="catalog") -> pd.DataFrame:
    parameters = {
        "text_encoder": tiny_bert_dir,
        "model": {"scheme": "sims", "architecture": ARCHITECTURE},
        "ingestion": {"label_range": [-1.0, 1.0]},
        "predict": {"model": model, "device": "cpu"},
    }
    datasets = {"ns.new_samples": RawMMSA(source="new.pkl", content=new_samples), "ns.trained_fusion_model": fusion_model,
                **{f"params:ns.{key}": value for key, value in parameters.items()}}
    catalog = DataCatalog({name: MemoryDataset(value, copy_mode="assign") for name, value in datasets.items()})
    outputs = SequentialRunner().run(Pipeline(predict.create_pipeline(), namespace="ns"), catalog)
    return outputs["ns.predictions"].load()


def test_new_samples_without_labels_get_a_full_predictions_table(corpus, fusion_model, tiny_bert_dir):
    new_samples = unlabelled(corpus["test"])
    table = run_predict(new_samples, fusion_model, tiny_bert_dir)
    assert list(table.columns) == [
        "id", "prediction", "sentiment_class", "pred_t", "pred_v", "pred_a", "dominant_modality",
        "attention_share_t", "attention_share_v", "attention_share_a",
    ]
    assert table["id"].tolist() == [str(i) for i in corpus["test"]["id"]]
    pyfunc = build_pyfunc_model(fusion_model, tiny_bert_dir, "sims", device="cpu")
    served = pyfunc.predict(None, ingest_new_samples(new_samples, "new.pkl", (-1.0, 1.0), token_limits=LIMITS))
    np.testing.assert_allclose(table["prediction"], served["sentiment"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table["pred_v"], served["sentiment_v"], rtol=1e-5, atol=1e-6)
    shares = table[["attention_share_t", "attention_share_v", "attention_share_a"]].to_numpy()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-6)
    assert set(table["sentiment_class"]) <= {"negative", "neutral", "positive"}


def test_splits_are_joined_and_a_bad_file_is_named_with_split_and_key(corpus, fusion_model, tiny_bert_dir):
    table = run_predict({split: unlabelled(corpus[split]) for split in ("valid", "test")}, fusion_model, tiny_bert_dir)
    assert len(table) == 6
    broken = unlabelled(corpus["test"])
    broken["vision_lengths"] = np.full(3, 99)
    with pytest.raises(MMSAFormatError, match=r"new.pkl: split 'samples', key 'vision_lengths': lengths must lie in \[0, 5\]"):
        run_predict(broken, fusion_model, tiny_bert_dir)


def test_catalog_model_missing_says_how_to_get_one(corpus, tiny_bert_dir):
    with pytest.raises(ValueError, match=r"no fusion_model has been trained yet.*models:/kuda-<namespace>@champion"):
        run_predict(unlabelled(corpus["test"]), None, tiny_bert_dir)


def test_classes_dominance_and_attention_shares_by_hand():
    assert sentiment_classes(np.array([-0.5, -0.1, 0.05, 0.1, 0.11], np.float32), "sims").tolist() == [
        "negative", "negative", "neutral", "neutral", "positive"]
    assert sentiment_classes(np.array([-2.2, -0.4, 0.49, 0.6]), "mosi").tolist() == [
        "negative", "neutral", "neutral", "positive"]
    prediction = np.array([0.5, -0.2])
    unimodal = {"t": np.array([0.4, 0.0]), "v": np.array([0.6, -0.4]), "a": np.array([0.0, 0.1])}
    assert dominant_modalities(prediction, unimodal).tolist() == ["t+v", "t+v"]
    uniform, peaked = np.full((1, 4), 0.25), np.array([[1.0, 0.0, 0.0, 0.0]])
    half = np.array([[0.5, 0.5, 0.0, 0.0]])  # focus 1 - log 2 / log 4 = 0.5
    shares = attention_shares({"t": peaked, "v": half, "a": uniform})
    np.testing.assert_allclose([shares[m][0] for m in "tva"], [2 / 3, 1 / 3, 0.0], atol=1e-6)
