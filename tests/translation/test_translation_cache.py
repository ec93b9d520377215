import logging

import pandas as pd
import pytest
from tiny_models import TEXTS, build_tiny_marian

from kuda_pipeline.translation.backends import PrecomputedTranslator, Seq2SeqTranslator
from kuda_pipeline.translation.cache import TRANSLATION_COLUMNS, translate_dataset

IDS = [f"video_{index:02d}" for index in range(len(TEXTS))]


class CountingTranslator:
    """Delegates to a translator and records the ids of every `translate` call."""

    def __init__(self, translator):
        self.translator = translator
        self.name, self.model_identity = translator.name, translator.model_identity
        self.calls: list[list[str]] = []

    def translate(self, texts, ids=None):
        self.calls.append(list(ids))
        return self.translator.translate(texts, ids=ids)


@pytest.fixture(scope="module")
def seq2seq(tmp_path_factory):
    model_dir = build_tiny_marian(tmp_path_factory.mktemp("models") / "tiny_marian")
    return Seq2SeqTranslator(model_dir, batch_size=4, max_new_tokens=6)


@pytest.fixture
def sources():
    return pd.DataFrame({"id": IDS, "text": TEXTS})


def test_second_run_reuses_every_cached_row(seq2seq, sources):
    backend = CountingTranslator(seq2seq)

    first = translate_dataset(sources, None, backend, None)
    second = translate_dataset(sources, first, backend, None)

    assert backend.calls == [IDS]
    assert list(first.columns) == list(TRANSLATION_COLUMNS)
    assert first["id"].tolist() == IDS and first["source_text"].tolist() == TEXTS
    assert first["text_en"].tolist() == seq2seq.translate(TEXTS)
    assert set(first["backend"]) == {"seq2seq"} and set(first["model_identity"]) == {seq2seq.model_identity}
    pd.testing.assert_frame_equal(second, first, check_dtype=False)


def test_only_new_or_edited_texts_are_translated_and_order_follows_sources(seq2seq, sources):
    backend = CountingTranslator(seq2seq)
    cached = translate_dataset(sources.iloc[:6], None, backend, None)
    edited = sources.copy()
    edited.loc[2, "text"] = "你 很 喜欢 这个 电影"
    shuffled = edited.iloc[[9, 2, 0, 7, 1, 3, 4, 5, 6, 8]]

    result = translate_dataset(shuffled, cached, backend, None)

    assert backend.calls[1] == ["video_09", "video_02", "video_07", "video_06", "video_08"]
    assert result["id"].tolist() == shuffled["id"].tolist()
    assert result["source_text"].tolist() == shuffled["text"].tolist()


def test_another_model_identity_is_not_reused(seq2seq, sources):
    cached = translate_dataset(sources, None, seq2seq, None).assign(model_identity="other-model-0123")
    backend = CountingTranslator(seq2seq)

    translate_dataset(sources, cached, backend, None)

    assert backend.calls == [IDS]


def test_precomputed_with_fallback_translates_only_the_absent_ids(seq2seq, sources, caplog):
    table = pd.DataFrame({"id": IDS[:7], "text_en": [f"english {index}" for index in range(7)]})
    precomputed, fallback = PrecomputedTranslator(table), CountingTranslator(seq2seq)

    with caplog.at_level(logging.WARNING):
        result = translate_dataset(sources, None, precomputed, lambda: fallback)
    again = translate_dataset(sources, result, precomputed, lambda: fallback)

    assert fallback.calls == [IDS[7:]]
    assert "3 id(s) have no precomputed translation" in caplog.text and "video_07" in caplog.text
    assert result["text_en"].tolist()[:7] == table["text_en"].tolist()
    assert result["text_en"].tolist()[7:] == seq2seq.translate(TEXTS[7:])
    assert result["backend"].tolist() == ["precomputed"] * 7 + ["seq2seq"] * 3
    pd.testing.assert_frame_equal(again, result, check_dtype=False)


def test_the_fallback_is_built_only_when_an_id_lacks_a_precomputed_translation(sources):
    table = pd.DataFrame({"id": IDS, "text_en": [f"english {index}" for index in range(len(IDS))]})
    builds = []

    result = translate_dataset(sources, None, PrecomputedTranslator(table), lambda: builds.append(1))

    assert builds == []
    assert result["text_en"].tolist() == table["text_en"].tolist()


def test_precomputed_without_fallback_lists_the_absent_ids():
    sources = pd.DataFrame({"id": [f"clip_{index:02d}" for index in range(14)], "text": ["我 很 好"] * 14})
    precomputed = PrecomputedTranslator(pd.DataFrame({"id": ["clip_00", "clip_05"], "text_en": ["fine", "fine"]}))
    first_ten = [f"clip_{index:02d}" for index in (1, 2, 3, 4, 6, 7, 8, 9, 10, 11)]

    with pytest.raises(ValueError, match=r"12 id\(s\) have no precomputed translation") as error:
        translate_dataset(sources, None, precomputed, None)

    assert str(first_ten) in str(error.value) and "clip_12" not in str(error.value)


def test_bad_inputs_are_rejected(seq2seq, sources):
    with pytest.raises(ValueError, match="a fallback translator only serves a precomputed backend, not 'seq2seq'"):
        translate_dataset(sources, None, seq2seq, lambda: seq2seq)
    with pytest.raises(ValueError, match=r"sources lack column\(s\) \['text'\]"):
        translate_dataset(sources.rename(columns={"text": "raw_text"}), None, seq2seq, None)
    with pytest.raises(ValueError, match=r"1 source id\(s\) occur more than once, e.g. \['video_00'\]"):
        translate_dataset(pd.concat([sources, sources.iloc[:1]]), None, seq2seq, None)
    with pytest.raises(ValueError, match=r"at ids \['video_03'\]"):
        translate_dataset(sources.assign(text=TEXTS[:3] + [" "] + TEXTS[4:]), None, seq2seq, None)
    with pytest.raises(ValueError, match=r"cached translations lack column\(s\) \['model_identity'\]"):
        translate_dataset(sources, pd.DataFrame({"id": ["a"], "source_text": ["x"], "text_en": ["y"],
                                                 "backend": ["seq2seq"]}), seq2seq, None)
