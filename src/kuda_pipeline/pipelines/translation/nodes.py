"""Nodes of the translation stage and of the knowledge-source assembly."""

from __future__ import annotations

from functools import partial

import pandas as pd
from transformers import AutoTokenizer

from kuda_pipeline.incremental import reusable
from kuda_pipeline.data.knowledge_corpus import assemble_knowledge_corpus
from kuda_pipeline.pipelines._common import text_encoder_source
from kuda_pipeline.translation.backends import PrecomputedTranslator, Seq2SeqTranslator
from kuda_pipeline.translation.cache import translate_dataset

BACKENDS = ("precomputed", "seq2seq")


def _seq2seq(settings: dict) -> Seq2SeqTranslator:
    return Seq2SeqTranslator(**settings)


@reusable
def translate_to_english(
    samples: pd.DataFrame, precomputed: pd.DataFrame | None, cached: pd.DataFrame | None, translation: dict
) -> pd.DataFrame:
    """English text per sample id; ids already translated by the same backend and model are reused.

    The seq2seq fallback of a precomputed backend is loaded only when some id lacks a precomputed translation.
    """
    backend_name, fallback_name = translation["backend"], translation.get("fallback")
    if backend_name not in BACKENDS or fallback_name not in (None, "seq2seq"):
        raise ValueError(f"translation.backend must be one of {BACKENDS} and fallback null or 'seq2seq', "
                         f"got backend={backend_name!r}, fallback={fallback_name!r}")
    if backend_name == "precomputed":
        if precomputed is None:
            raise ValueError("translation.backend is 'precomputed' but the precomputed translations file is missing")
        backend = PrecomputedTranslator(precomputed)
    else:
        backend = _seq2seq(translation["seq2seq"])
    build_fallback = partial(_seq2seq, translation["seq2seq"]) if fallback_name == "seq2seq" else None
    sources = samples[["id", "raw_text"]].rename(columns={"raw_text": "text"})
    return translate_dataset(sources, cached, backend, build_fallback)


@reusable
def assemble_knowledge_source(source_arrays: dict, translations: pd.DataFrame, split_arrays: dict,
                              text_encoder: str) -> dict:
    """The source's stage-1 corpus, its text tokenised by the target's tokenizer to the target's text length."""
    tokenizer = AutoTokenizer.from_pretrained(text_encoder_source(text_encoder))
    text_length = split_arrays["train"]["text_bert"].shape[2]
    return assemble_knowledge_corpus(source_arrays, translations, tokenizer, text_length)
