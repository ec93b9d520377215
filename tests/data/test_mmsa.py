"""Validation, cleaning and conversion of an MMSA dict."""

import json

import numpy as np
import pytest

from kuda_pipeline.data.mmsa import MMSAFormatError, TokenLimits, ingest_mmsa

SIZES = {"train": 4, "valid": 2, "test": 3}
LIMITS = TokenLimits(vocab_size=2000, type_vocab_size=2, max_positions=8, pad_token_id=0)
L_T, L_V, D_V, L_A, D_A = 6, 5, 3, 7, 2


def _split(split, n, rng, offset):
    text_bert = np.zeros((n, 3, L_T))
    text_bert[:, 0, :4] = rng.integers(1000, 2000, size=(n, 4))
    text_bert[:, 1, :4] = 1
    return {
        "id": np.array([f"video_{offset + i:04d}$_$0001" for i in range(n)], dtype=object),
        "raw_text": np.array([f"{split} sentence {i}" for i in range(n)], dtype=object),
        "text_bert": text_bert,
        "text": rng.standard_normal((n, L_T, 8)),
        "vision": rng.standard_normal((n, L_V, D_V)).astype(np.float32),
        "audio": rng.standard_normal((n, L_A, D_A)),
        "vision_lengths": rng.integers(0, L_V + 1, size=n),
        "audio_lengths": [float(L_A)] * n,
        "regression_labels": rng.choice([-1.0, -0.2, 0.0, 0.4, 1.0], size=(n, 1)),
        "regression_labels_T": rng.choice([-1.0, 0.0, 0.6], size=n),
        "regression_labels_V": rng.choice([-1.0, 0.0, 0.6], size=n),
        "regression_labels_A": rng.choice([-1.0, 0.0, 0.6], size=n),
        "annotations": np.array(["Positive"] * n, dtype=object),
    }


def _mmsa(seed=0):
    rng = np.random.default_rng(seed)
    offsets = np.cumsum([0, *SIZES.values()])
    return {split: _split(split, n, rng, offset) for (split, n), offset in zip(SIZES.items(), offsets)}


def _ingest(raw):
    return ingest_mmsa(raw, source="data/01_raw/sims.pkl", label_range=(-1.0, 1.0), token_limits=LIMITS)


def test_valid_dict_gives_contract_arrays():
    ingested = _ingest(_mmsa())
    train = ingested.splits["train"]
    assert sorted(train) == sorted(
        ["id", "text_bert", "vision", "audio", "vision_lengths", "audio_lengths", "label", "label_T", "label_V",
         "label_A"]
    )
    assert train["id"].dtype.kind == "U" and train["id"][0] == "video_0000$_$0001"
    assert train["text_bert"].dtype == np.int64 and train["text_bert"].shape == (4, 3, L_T)
    assert train["vision"].dtype == np.float32 and train["audio"].dtype == np.float32
    assert train["audio"].shape == (4, L_A, D_A)
    assert train["vision_lengths"].dtype == np.int64 and train["audio_lengths"].tolist() == [L_A] * 4
    assert train["label"].dtype == np.float32 and train["label"].shape == (4,)


def test_labels_of_shape_n_by_1_are_flattened():
    raw = _mmsa()
    ingested = _ingest(raw)
    for split in SIZES:
        expected = raw[split]["regression_labels"][:, 0].astype(np.float32)
        np.testing.assert_array_equal(ingested.splits[split]["label"], expected)
        assert ingested.splits[split]["label_T"].shape == (SIZES[split],)


def test_extra_keys_are_left_out_and_reported():
    ingested = _ingest(_mmsa())
    assert "text" not in ingested.splits["train"] and "annotations" not in ingested.splits["train"]
    assert ingested.report["splits"]["valid"]["ignored_keys"] == ["annotations", "text"]


def test_float32_features_are_not_copied():
    raw = _mmsa()
    assert _ingest(raw).splits["test"]["vision"] is raw["test"]["vision"]


def test_non_finite_features_are_replaced_in_place_and_counted(caplog):
    raw = _mmsa()
    vision = raw["train"]["vision"]
    vision[0, 0, 0], vision[1, 2, 1], vision[3, 4, 2] = np.nan, np.inf, -np.inf
    raw["valid"]["audio"] = raw["valid"]["audio"].astype(np.float32)
    raw["valid"]["audio"][1, :, 0] = -np.inf
    with caplog.at_level("INFO", logger="kuda_pipeline.data.mmsa"):
        ingested = _ingest(raw)
    assert ingested.splits["train"]["vision"] is vision
    assert vision[0, 0, 0] == 0 and vision[1, 2, 1] == 0 and vision[3, 4, 2] == 0 and np.isfinite(vision).all()
    replaced = {split: ingested.report["splits"][split]["non_finite_replaced"] for split in SIZES}
    assert replaced == {"train": {"vision": 3, "audio": 0}, "valid": {"vision": 0, "audio": L_A},
                        "test": {"vision": 0, "audio": 0}}
    assert "split 'valid', key 'audio': replaced 7 non-finite values by 0" in caplog.text


def test_read_only_features_are_cleaned_on_a_copy():
    raw = _mmsa()
    vision = raw["test"]["vision"]
    vision[2, 1, 0] = -np.inf
    vision.flags.writeable = False
    cleaned = _ingest(raw).splits["test"]["vision"]
    assert cleaned is not vision and cleaned[2, 1, 0] == 0 and vision[2, 1, 0] == -np.inf


def test_samples_table_and_report():
    raw = _mmsa()
    ingested = _ingest(raw)
    samples = ingested.samples
    assert list(samples.columns) == ["id", "split", "raw_text", "label", "label_T", "label_V", "label_A",
                                     "text_length", "vision_length", "audio_length"]
    assert len(samples) == 9 and samples["split"].tolist() == ["train"] * 4 + ["valid"] * 2 + ["test"] * 3
    assert samples["text_length"].tolist() == [4] * 9
    assert samples["raw_text"].iloc[4] == "valid sentence 0"
    assert samples["vision_length"].tolist()[:4] == raw["train"]["vision_lengths"].tolist()
    report = json.loads(json.dumps(ingested.report))
    assert report["splits"]["test"]["count"] == 3 and report["has_unimodal_labels"] is True
    assert report["splits"]["train"]["shapes"]["vision"] == [4, L_V, D_V]
    labels = np.concatenate([raw[split]["regression_labels"][:, 0] for split in SIZES]).astype(np.float32)
    assert report["label_min"] == float(labels.min()) and report["label_max"] == float(labels.max())


def test_dataset_without_unimodal_labels():
    raw = _mmsa()
    for split in SIZES:
        for m in "TVA":
            del raw[split][f"regression_labels_{m}"]
    ingested = _ingest(raw)
    assert "label_T" not in ingested.splits["train"] and "label_T" not in ingested.samples.columns
    assert ingested.report["has_unimodal_labels"] is False


def _set(split, key, value):
    def mutate(raw):
        raw[split][key] = value(raw[split][key]) if callable(value) else value
    return mutate


def _delete(split, key):
    def mutate(raw):
        del raw[split][key]
    return mutate


def _duplicate_id(raw):
    raw["test"]["id"][1] = raw["train"]["id"][2]


def _drop_unimodal(split):
    def mutate(raw):
        for m in "TVA":
            del raw[split][f"regression_labels_{m}"]
    return mutate


INVALID = {
    "missing_key": (_delete("valid", "audio_lengths"), "valid", "audio_lengths", "missing"),
    "partial_unimodal": (_delete("train", "regression_labels_V"), "train", "regression_labels_V", "all three or none"),
    "unimodal_in_one_split_only": (_drop_unimodal("test"), "test", "regression_labels_T", "present: False"),
    "id_not_1d": (_set("train", "id", lambda ids: ids[:, None]), "train", "id", "must be 1-D, got shape (4, 1)"),
    "first_dim_mismatch": (_set("valid", "vision", lambda v: v[:1]), "valid", "vision", "shape (1, 5, 3)"),
    "non_numeric": (_set("test", "audio_lengths", np.array(["7"] * 3)), "test", "audio_lengths", "dtype <U1"),
    "text_bert_rows": (_set("train", "text_bert", lambda t: t[:, :2]), "train", "text_bert", "(4, 2, 6)"),
    "text_bert_not_integer": (_set("test", "text_bert", lambda t: t + 0.5), "test", "text_bert", "integers"),
    "vision_not_3d": (_set("train", "vision", lambda v: v[:, 0]), "train", "vision", "(N, L, D) with L, D >= 1, got (4, 3)"),
    "feature_size_across_splits": (_set("test", "audio", lambda a: a[:, :, :1]), "test", "audio", "(7, 1) differs"),
    "length_not_integer": (_set("valid", "vision_lengths", np.array([1.5, 2.0])), "valid", "vision_lengths",
                           "integer-valued"),
    "length_too_long": (_set("train", "audio_lengths", np.array([1, 2, 8, 3])), "train", "audio_lengths",
                        "[0, 7], found min 1 and max 8"),
    "negative_length": (_set("test", "vision_lengths", np.array([-1, 2, 3])), "test", "vision_lengths", "min -1"),
    "label_shape": (_set("valid", "regression_labels", np.zeros((2, 2))), "valid", "regression_labels", "(2, 2)"),
    "label_range": (_set("test", "regression_labels", np.array([0.0, 1.5, -3.0])), "test", "regression_labels",
                    "2 label(s) outside (-1.0, 1.0), e.g. [1.5, -3.0]"),
    "unimodal_label_range": (_set("train", "regression_labels_A", lambda y: y * 2), "train", "regression_labels_A",
                             "outside"),
    "duplicate_id": (_duplicate_id, "test", "id", "'video_0002$_$0001' in splits ['train', 'test']"),
}


@pytest.mark.parametrize("mutate, split, key, detail", INVALID.values(), ids=INVALID.keys())
def test_invalid_input_names_source_split_and_key(mutate, split, key, detail):
    raw = _mmsa()
    mutate(raw)
    with pytest.raises(MMSAFormatError) as error:
        _ingest(raw)
    message = str(error.value)
    assert message.startswith(f"data/01_raw/sims.pkl: split '{split}', key '{key}'")
    assert detail in message


def test_top_level_must_be_a_dict():
    with pytest.raises(MMSAFormatError, match=r"data/01_raw/sims.pkl: top level must be a dict of splits, got list"):
        _ingest([1, 2])


def test_missing_split():
    raw = _mmsa()
    del raw["valid"]
    with pytest.raises(MMSAFormatError, match=r"sims.pkl: top level must hold splits .* missing \['valid'\]"):
        _ingest(raw)


def test_split_must_be_a_dict():
    raw = _mmsa()
    raw["test"] = [raw["test"]]
    with pytest.raises(MMSAFormatError, match=r"sims.pkl: split 'test' must be a dict of arrays, got list"):
        _ingest(raw)


def test_bad_label_range():
    with pytest.raises(ValueError, match=r"low < high, got \(1.0, -1.0\)"):
        ingest_mmsa(_mmsa(), source="x.pkl", label_range=(1.0, -1.0), token_limits=LIMITS)
