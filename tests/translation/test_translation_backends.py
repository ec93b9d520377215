import hashlib
import shutil

import pandas as pd
import pytest
from tiny_models import TEXTS, build_tiny_marian

from hub_cache import fake_hub_cache

from kuda_pipeline.pretrained import PretrainedUnavailableError
from kuda_pipeline.translation.backends import PrecomputedTranslator, Seq2SeqTranslator, Translator


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_marian(tmp_path_factory.mktemp("models") / "tiny_marian")


def _count_generate_calls(translator):
    calls = []
    generate = translator.model.generate

    def counting_generate(**kwargs):
        calls.append(kwargs["input_ids"].shape)
        return generate(**kwargs)

    translator.model.generate = counting_generate
    return calls


def test_batches_give_the_same_greedy_translations(model_dir):
    batched = Seq2SeqTranslator(model_dir, batch_size=4, max_new_tokens=6)
    calls = _count_generate_calls(batched)

    translations = batched.translate(TEXTS)
    whole = Seq2SeqTranslator(model_dir, batch_size=10, max_new_tokens=6).translate(TEXTS)

    assert [shape[0] for shape in calls] == [4, 4, 2]
    assert len(translations) == 10 and all(isinstance(text, str) for text in translations)
    assert translations == whole
    assert len(set(translations)) > 3  # the random model's output depends on its input


def test_identity_and_protocol(model_dir):
    translator = Seq2SeqTranslator(model_dir, max_new_tokens=4)
    config_hash = hashlib.sha256((model_dir / "config.json").read_bytes()).hexdigest()[:12]

    assert isinstance(translator, Translator)
    assert translator.name == "seq2seq"
    assert translator.model_identity == f"tiny_marian-{config_hash}"
    assert translator.generate_kwargs == {"max_new_tokens": 4, "num_beams": 1}


def test_missing_incomplete_or_invalid_model_directory(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match=f"no seq2seq model directory at {tmp_path / 'absent'}"):
        Seq2SeqTranslator(tmp_path / "absent")
    incomplete = tmp_path / "config_only"
    incomplete.mkdir()
    shutil.copy(model_dir / "config.json", incomplete)
    with pytest.raises(FileNotFoundError, match=rf"incomplete seq2seq model directory {incomplete}: no weights .*, no"):
        Seq2SeqTranslator(incomplete)
    invalid = shutil.copytree(model_dir, tmp_path / "invalid")
    (invalid / "config.json").write_text('{"model_type": "no_such_model"}')
    with pytest.raises(FileNotFoundError, match=f"cannot load a seq2seq model and tokenizer from {invalid}: "):
        Seq2SeqTranslator(invalid)


def test_bad_settings_and_empty_texts(model_dir):
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        Seq2SeqTranslator(model_dir, batch_size=0)
    translator = Seq2SeqTranslator(model_dir, max_new_tokens=4)
    blank_message = r"2 empty or blank source text\(s\) cannot be translated, at ids \['b', 'c'\]"
    with pytest.raises(ValueError, match=blank_message):
        translator.translate(["我 很 好", "", "  \t"], ids=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"at positions \[1\]"):
        translator.translate(["我 很 好", " "])
    with pytest.raises(ValueError, match="1 ids given for 2 texts"):
        translator.translate(["我", "你"], ids=["a"])


def test_precomputed_lookup():
    table = pd.DataFrame({"id": ["a", "b", "c"], "text_en": ["good", "bad", "  "]})
    translator = PrecomputedTranslator(table)

    assert translator.translate_ids(["c", "a", "z", "b"]) == ({"a": "good", "b": "bad"}, ["c", "z"])
    assert translator.name == "precomputed"
    assert translator.model_identity.startswith("precomputed-")
    edited = PrecomputedTranslator(table.assign(text_en=["good", "awful", "  "]))
    assert edited.model_identity != translator.model_identity
    assert PrecomputedTranslator(table.iloc[::-1]).model_identity == translator.model_identity


def test_precomputed_table_errors():
    with pytest.raises(ValueError, match=r"lack column\(s\) \['text_en'\]"):
        PrecomputedTranslator(pd.DataFrame({"id": ["a"], "text": ["x"]}))
    with pytest.raises(ValueError, match=r"list 1 id\(s\) twice, e.g. \['a'\]"):
        PrecomputedTranslator(pd.DataFrame({"id": ["a", "a"], "text_en": ["x", "y"]}))


def test_the_seq2seq_translator_takes_a_hub_id_from_the_cache(offline_cache, tmp_path):
    fake_hub_cache(offline_cache, "Helsinki-NLP/opus-mt-zh-en", build_tiny_marian(tmp_path / "marian"))

    translator = Seq2SeqTranslator("Helsinki-NLP/opus-mt-zh-en", max_new_tokens=3)

    assert translator.model_identity.startswith("Helsinki-NLP/opus-mt-zh-en-")
    assert len(translator.translate(["我 很 好"])) == 1
    with pytest.raises(PretrainedUnavailableError, match="'Helsinki-NLP/opus-mt-en-zh'"):
        Seq2SeqTranslator("Helsinki-NLP/opus-mt-en-zh")
