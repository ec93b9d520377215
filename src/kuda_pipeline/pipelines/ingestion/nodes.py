"""Nodes of the ingestion stage."""

from __future__ import annotations

import pandas as pd

from kuda_pipeline.data.mmsa import RawMMSA, ingest_mmsa
from kuda_pipeline.model.text_encoder import read_token_limits
from kuda_pipeline.pipelines._common import text_encoder_source
from kuda_pipeline.pipelines._settings import IngestionSettings, with_settings


@with_settings
def ingest_raw_dataset(
    raw_mmsa: RawMMSA, text_encoder: str, ingestion: IngestionSettings
) -> tuple[dict, pd.DataFrame, dict]:
    """Validate the pickle against the text encoder's limits and clean it: split arrays, the sample table
    and the ingestion report."""
    ingested = ingest_mmsa(
        raw_mmsa.content,
        source=raw_mmsa.source,
        label_range=ingestion.label_range,
        token_limits=read_token_limits(text_encoder_source(text_encoder)),
    )
    return ingested.splits, ingested.samples, ingested.report
