"""Knowledge-source assembly: a source's split arrays with its text replaced by translated, re-tokenised text."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kuda_pipeline.data.contract import SplitArrays

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def tokenize_text_bert(texts: list[str], tokenizer: PreTrainedTokenizerBase, text_length: int) -> np.ndarray:
    """MMSA's ``text_bert`` layout: (N, 3, text_length) int64 rows of token ids, attention mask, segment ids."""
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=text_length,
                        return_token_type_ids=True, return_tensors="np")
    rows = [encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"]]
    return np.stack(rows, axis=1).astype(np.int64)  # 3 x (N, L_t) -> (N, 3, L_t)


def assemble_knowledge_corpus(
    source: SplitArrays, translations: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, text_length: int
) -> dict[str, dict[str, np.ndarray]]:
    """The source's splits, unimodal labels and vision/audio features, with ``text_bert`` from the English text.

    Raises ValueError naming the split and the first ids when a source id has no translation.
    """
    english = dict(zip(translations["id"], translations["text_en"]))
    corpus = {}
    for split, arrays in source.items():
        ids = [str(sample_id) for sample_id in arrays["id"]]
        missing = [sample_id for sample_id in ids if sample_id not in english]
        if missing:
            raise ValueError(f"split '{split}': {len(missing)} id(s) have no English translation, e.g. {missing[:5]}")
        corpus[split] = {**arrays, "text_bert": tokenize_text_bert([english[i] for i in ids], tokenizer, text_length)}
    return corpus
