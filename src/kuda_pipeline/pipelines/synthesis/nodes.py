"""Nodes of the synthesis stage."""

from __future__ import annotations

import pandas as pd
from transformers import AutoTokenizer

from kuda_pipeline.data.synthetic import SyntheticSpec, english_rendering_table, generate_corpus
from kuda_pipeline.pipelines._common import text_encoder_source


def _generate(spec: dict, text_encoder: str) -> tuple[dict, dict[str, str] | None]:
    tokenizer = AutoTokenizer.from_pretrained(text_encoder_source(text_encoder))
    return generate_corpus(SyntheticSpec(**spec), tokenizer)


def generate_synthetic_corpus(spec: dict, text_encoder: str) -> dict:
    """An MMSA-format corpus (no English rendering: the corpus is already English)."""
    corpus, _ = _generate(spec, text_encoder)
    return corpus


def generate_synthetic_corpus_with_rendering(spec: dict, text_encoder: str) -> tuple[dict, pd.DataFrame]:
    """A Chinese MMSA-format corpus and its English rendering (id → text), the precomputed translations."""
    corpus, rendering = _generate(spec, text_encoder)
    if rendering is None:
        raise ValueError(f"synthesis spec language={spec.get('language')!r} gives no English rendering; use 'zh'")
    return corpus, english_rendering_table(rendering)
