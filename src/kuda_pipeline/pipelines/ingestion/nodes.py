"""Nodes of the ingestion stage."""

from __future__ import annotations

import pandas as pd

from kuda_pipeline.data.mmsa import ingest_mmsa


def ingest_raw_dataset(raw_mmsa: dict, ingestion: dict) -> tuple[dict, pd.DataFrame, dict]:
    """Validate and clean the pickle: split arrays, the sample table and the ingestion report."""
    ingested = ingest_mmsa(raw_mmsa, source=ingestion["source"], label_range=tuple(ingestion["label_range"]))
    return ingested.splits, ingested.samples, ingested.report
