"""The translation node with the paper's setting: precomputed translations first, a seq2seq model for the rest."""

import pandas as pd
import pytest

from kuda_pipeline.pipelines.translation.nodes import translate_to_english

SAMPLES = pd.DataFrame({"id": ["clip_1", "clip_2"], "raw_text": ["我 很 好", "我 不 好"]})
PRECOMPUTED = pd.DataFrame({"id": ["clip_1", "clip_2"], "text_en": ["I am fine", "I am not fine"]})


def paper_setting(model_dir) -> dict:
    return {"backend": "precomputed", "fallback": "seq2seq",
            "seq2seq": {"model": str(model_dir), "device": "cpu", "batch_size": 2}}


def test_complete_precomputed_translations_need_no_fallback_model(tmp_path):
    translations = translate_to_english(SAMPLES, PRECOMPUTED, None, paper_setting(tmp_path / "absent"))

    assert translations["text_en"].tolist() == ["I am fine", "I am not fine"]
    assert set(translations["backend"]) == {"precomputed"}


def test_an_id_without_precomputed_translation_needs_the_fallback_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        translate_to_english(SAMPLES, PRECOMPUTED.iloc[:1], None, paper_setting(tmp_path / "absent"))
