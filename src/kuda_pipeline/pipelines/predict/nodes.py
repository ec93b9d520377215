"""Nodes of the predict stage."""

from __future__ import annotations

import pandas as pd

from kuda_pipeline.data.mmsa import RawMMSA, ingest_new_samples
from kuda_pipeline.model.text_encoder import read_token_limits
from kuda_pipeline.pipelines._common import text_encoder_source
from kuda_pipeline.pipelines._settings import IngestionSettings, PredictSettings, with_settings
from kuda_pipeline.serving import build_pyfunc_model, load_registered_model
from kuda_pipeline.serving.prediction import prediction_table

CATALOG = "catalog"


@with_settings
def predict_new_samples(
    new_samples: RawMMSA, trained_fusion_model: dict | None, text_encoder: str, model: dict, ingestion: IngestionSettings,
    predict: PredictSettings,
) -> pd.DataFrame:
    """Validate the new samples as ingestion does (labels optional) and predict them with the model ``predict.model``
    names: ``catalog`` (the latest ``fusion_model``) or an MLflow model URI (``models:/kuda-<ns>@champion``)."""
    arrays = ingest_new_samples(
        new_samples.content,
        source=new_samples.source,
        label_range=ingestion.label_range,
        token_limits=read_token_limits(text_encoder_source(text_encoder)),
    )
    if predict.model == CATALOG:
        if trained_fusion_model is None:
            raise ValueError("predict.model is 'catalog' but no fusion_model has been trained yet: run the "
                             "training pipeline first, or set predict.model to a model URI such as "
                             "models:/kuda-<namespace>@champion")
        pyfunc = build_pyfunc_model(trained_fusion_model, text_encoder_source(text_encoder), model["scheme"],
                                    device=predict.device)
    else:
        pyfunc = load_registered_model(predict.model, device=predict.device)
    return prediction_table(pyfunc, arrays)
