"""Stage 1 → stage 2 → evaluation, and the cross-dataset transfer, on in-memory catalogs with a tiny random BERT."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from tiny_models import ARCHITECTURE, TRAIN

from kuda_pipeline.datasets import MMSAPickleDataset
from kuda_pipeline.pipelines import (
    evaluation,
    fusion_training,
    ingestion,
    knowledge_pretraining,
    synthesis,
    translation,
)

SHAPES = dict(n_train=16, n_valid=8, n_test=8, audio_length=7, audio_dim=4, seed=5)
SOURCE = dict(SHAPES, language="zh", text_length=16, vision_length=5, vision_dim=6,
              label_range=(-1.0, 1.0), unimodal_labels=True)
TARGET = dict(SHAPES, language="en", text_length=18, vision_length=6, vision_dim=3,
              label_range=(-3.0, 3.0), unimodal_labels=False)
STAGE1 = {"scheme": "sims", "checkpoint_dir": None, **{m: {"loss": "mse", "train": TRAIN} for m in "tva"}}


def _parameters(namespace: str, spec: dict, scheme: str, text_encoder: str, label_range) -> dict:
    values = {
        "synthesis": spec,
        "text_encoder": text_encoder,
        "ingestion": {"label_range": list(label_range)},
        "model": {"scheme": scheme, "architecture": ARCHITECTURE},
        "knowledge_pretraining": STAGE1,
        "fusion_training": {"checkpoint_dir": None, "train": TRAIN},
        "evaluation": {"split": "test", "batch_size": 8, "device": "cpu"},
        "translation": {"backend": "precomputed", "fallback": None},
    }
    return {f"params:{namespace}.{key}": value for key, value in values.items()}


def _run(pipeline: Pipeline, datasets: dict, raw_dir) -> dict:
    catalog = DataCatalog({name: MemoryDataset(value, copy_mode="assign") for name, value in datasets.items()})
    for namespace in {name.split(".")[0] for name in pipeline.datasets() if name.endswith(".raw_mmsa")}:
        catalog[f"{namespace}.raw_mmsa"] = MMSAPickleDataset(str(raw_dir / f"{namespace}.pkl"))
    outputs = SequentialRunner().run(pipeline, catalog)
    return {name: dataset.load() for name, dataset in outputs.items()}


@pytest.mark.slow
def test_stage1_stage2_and_evaluation_on_a_dataset_with_unimodal_labels(tiny_bert_dir, tmp_path):
    stages = (synthesis.create_pipeline(with_english_rendering=True) + ingestion.create_pipeline()
              + Pipeline(knowledge_pretraining.create_pipeline(), inputs={"knowledge_arrays": "split_arrays"})
              + fusion_training.create_pipeline() + evaluation.create_pipeline())
    outputs = _run(Pipeline(stages, namespace="src"),
                   _parameters("src", SOURCE, "sims", tiny_bert_dir, (-1.0, 1.0)), tmp_path)

    metrics = outputs["src.test_metrics"]
    assert set(metrics["kuda"]) == {"Acc2", "Acc3", "Acc5", "F1", "F1_authors", "MAE", "Corr"}
    assert np.isnan(metrics["train_mean_baseline"]["Corr"])
    predictions = outputs["src.test_predictions"]
    assert len(predictions) == 8
    assert {"id", "label", "prediction", "pred_t", "pred_v", "pred_a"} <= set(predictions.columns)
    summary = outputs["src.fusion_training_summary"]
    assert summary["knowledge_loading"]["skipped"] == {}
    assert summary["knowledge_loading"]["loaded"] > 0
    assert [row["epoch"] for row in summary["history"]] == [1]
    assert (summary["architecture"]["reference"], summary["architecture"]["padding"]) == ("paper", "masked")


@pytest.mark.slow
def test_knowledge_transfer_from_a_translated_source(tiny_bert_dir, tmp_path):
    source = Pipeline(synthesis.create_pipeline(with_english_rendering=True) + ingestion.create_pipeline()
                      + translation.create_translation_pipeline(), namespace="src")
    target = Pipeline(
        synthesis.create_pipeline() + ingestion.create_pipeline() + translation.create_assembly_pipeline()
        + knowledge_pretraining.create_pipeline() + fusion_training.create_pipeline() + evaluation.create_pipeline(),
        namespace="tgt",
        inputs={"source_arrays": "src.split_arrays", "source_translations": "src.translations_en"},
    )
    datasets = {**_parameters("src", SOURCE, "sims", tiny_bert_dir, (-1.0, 1.0)),
                **_parameters("tgt", TARGET, "mosi", tiny_bert_dir, (-3.0, 3.0)),
                "src.translations_en_cache": None}
    outputs = _run(source + target, datasets, tmp_path)

    metrics = outputs["tgt.test_metrics"]["kuda"]
    assert {"Acc7", "Acc2_has0", "Acc2_non0", "F1_non0", "MAE", "Corr"} <= set(metrics)
    skipped = outputs["tgt.fusion_training_summary"]["knowledge_loading"]["skipped"]
    assert any(key.startswith("v.") for key in skipped), "vision input sizes differ (6 vs 3): its projection is skipped"
    assert set(skipped["v.encoder.input_projection"]) == {"weight", "bias"}, "the layer is skipped whole"
    assert skipped["v.encoder.input_projection"]["bias"]["checkpoint"] == skipped["v.encoder.input_projection"][
        "bias"]["model"]
    assert not any(key.startswith("t.") for key in skipped), "text transfers whole"
