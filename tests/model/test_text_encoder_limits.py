"""What ingestion learns from a text encoder's config.json: vocabulary, segment types, positions, padding id."""

import json

import pytest

from kuda_pipeline.data.mmsa import TokenLimits
from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir, read_text_encoder_depth, read_token_limits


def test_the_embedded_encoder_limits():
    assert read_token_limits(embedded_text_encoder_dir()) == TokenLimits(
        vocab_size=30522, type_vocab_size=2, max_positions=512, pad_token_id=0)


def test_the_depth_is_read_from_the_config(tmp_path):
    assert read_text_encoder_depth(embedded_text_encoder_dir()) == 6
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 10, "num_hidden_layers": 0}))
    with pytest.raises(ValueError, match=r"config\.json: num_hidden_layers must be an integer >= 1, got 0"):
        read_text_encoder_depth(tmp_path)


def test_optional_limits_may_be_absent(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 21128, "pad_token_id": None}))
    assert read_token_limits(tmp_path) == TokenLimits(vocab_size=21128, type_vocab_size=None, max_positions=None,
                                                      pad_token_id=0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"no text encoder in .*: expected a Hugging Face config.json there"),
        ("{not json", r"config\.json: not a readable JSON config"),
        ("[1, 2]", r"config\.json: expected a JSON object, got list"),
        ('{"hidden_size": 8}', r"config\.json: vocab_size must be an integer >= 1, got None"),
        ('{"vocab_size": "30522"}', r"config\.json: vocab_size must be an integer >= 1, got '30522'"),
        ('{"vocab_size": 10, "type_vocab_size": 0}', r"type_vocab_size must be an integer >= 1, got 0"),
        ('{"vocab_size": 10, "pad_token_id": -1}', r"pad_token_id must be an integer >= 0, got -1"),
    ],
    ids=["missing", "not_json", "not_object", "no_vocab", "vocab_text", "no_segments", "negative_pad"],
)
def test_a_bad_config_is_named(tmp_path, content, message):
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        read_token_limits(tmp_path)
