"""Stand-ins of the real MMSA pickles: the real split sizes, keys, dtypes, shapes, label grids and quirks."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from kuda_pipeline.data.mmsa import ingest_mmsa
from kuda_pipeline.data.safe_pickle import load_untrusted_pickle
from kuda_pipeline.data.standins import REAL_FILES, generate_standin, standin_spec, write_standins
from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir, read_token_limits

SMALL = {"train": 12, "valid": 5, "test": 6}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(embedded_text_encoder_dir())


@pytest.mark.parametrize(
    ("dataset", "sizes", "text", "vision", "audio"),
    [("sims", (1368, 456, 457), 39, (55, 709), (400, 33)), ("simsv2", (2722, 647, 1034), 50, (232, 177), (925, 25)),
     ("mosi", (1284, 229, 686), 50, (375, 20), (500, 5)), ("mosei", (16326, 1871, 4659), 50, (500, 35), (500, 74))],
)
def test_the_real_files_sizes_are_the_default(dataset, sizes, text, vision, audio):
    spec = standin_spec(dataset)

    assert (spec.n_train, spec.n_valid, spec.n_test) == sizes
    assert (spec.text_length, (spec.vision_length, spec.vision_dim), (spec.audio_length, spec.audio_dim)) == (
        text, vision, audio)


@pytest.mark.parametrize("dataset", sorted(REAL_FILES))
def test_a_stand_in_has_the_real_keys_dtypes_shapes_and_quirks(tokenizer, dataset):
    shape = REAL_FILES[dataset]
    data, english = generate_standin(dataset, tokenizer, SMALL, text_features=True)

    train = data["train"]
    assert set(data) == {"train", "valid", "test"} and len(data["valid"]["id"]) == 5
    expected_keys = {"id", "raw_text", "text", "text_bert", "vision", "audio", "vision_lengths", "audio_lengths",
                     "annotations", "regression_labels", "classification_labels"}
    if shape.unimodal_labels:
        expected_keys |= {f"{kind}_labels_{m}" for kind in ("regression", "classification") for m in "TVA"}
    assert set(train) == expected_keys
    assert train["id"].dtype == object and train["raw_text"].dtype == object and train["annotations"].dtype == object
    assert train["text_bert"].shape == (12, 3, shape.text_length) and train["text_bert"].dtype == np.float32
    assert train["text"].shape == (12, shape.text_length, 768)
    assert train["vision"].shape == (12, *shape.vision) and train["audio"].shape == (12, *shape.audio)
    assert train["regression_labels"].shape == ((12, 1) if shape.labels_2d else (12,))
    assert isinstance(train["audio_lengths"], list) == shape.lengths_as_lists
    steps = np.asarray(train["regression_labels"]).reshape(-1) / shape.label_step
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)
    assert np.abs(train["regression_labels"]).max() <= shape.label_range[1]
    assert (english is not None) == (shape.language == "zh")


def test_stand_ins_pass_ingestion_with_their_inf_steps_replaced(tokenizer):
    data, _ = generate_standin("simsv2", tokenizer, {"train": 200, "valid": 5, "test": 6})

    report = ingest_mmsa(data, "simsv2.pkl", (-1.0, 1.0),
                         token_limits=read_token_limits(embedded_text_encoder_dir())).report

    replaced = report["splits"]["train"]["non_finite_replaced"]
    assert replaced["audio"] > 0 and replaced["vision"] > 0
    assert report["has_unimodal_labels"] and report["splits"]["train"]["shapes"]["audio"] == [200, 925, 25]


def test_stand_ins_are_written_where_the_paper_environment_reads_them(tmp_path, tokenizer):
    written = write_standins(tmp_path, tokenizer, ["sims", "mosei"], SMALL)

    assert written == {"sims": tmp_path / "sims" / "unaligned_39.pkl", "mosei": tmp_path / "mosei" / "unaligned_50.pkl"}
    assert (tmp_path / "sims" / "translations_en.parquet").is_file()
    assert not (tmp_path / "mosei" / "translations_en.parquet").exists()
    assert load_untrusted_pickle(written["mosei"])["test"]["vision"].shape == (6, 500, 35)
