import pytest

from kuda_pipeline.model.config import AdapterConfig, KudaConfig, SequenceEncoderConfig

SIZES = dict(text_length=8, vision_length=6, vision_dim=5, audio_length=10, audio_dim=4)


def test_defaults_follow_the_paper_and_public_code():
    config = KudaConfig(**SIZES)
    assert config.text_injection_layers == (3, 6, 9, 11)
    assert config.vision_encoder == SequenceEncoderConfig(128, 4, 8, 64, dropout=0.2, attention_dropout=0.2)
    assert config.vision_adapter == AdapterConfig(num_blocks=3, dropout=0.1, attention_dropout=0.1)
    assert config.injection_layers("v") == (1, 2, 3)
    assert (config.fusion_dim, config.fusion_blocks, config.head_hidden_sizes) == (256, 3, (64, 32))
    assert (config.k, config.alpha, config.task_loss, config.test_ratio) == (0.1, 0.01, "mae", "one")
    assert (config.reference, config.adapter_norm, config.padding, config.frozen_adapter_dropout) == (
        "paper", "per_block", "masked", True)
    assert config.modalities == ("t", "v", "a") and config.use_sentiment_ratio


def test_heads_must_divide_hidden_size():
    with pytest.raises(ValueError, match=r"hidden_size=30 is not divisible by num_heads=8"):
        SequenceEncoderConfig(hidden_size=30)


def test_bad_task_loss_and_test_ratio_are_named():
    with pytest.raises(ValueError, match=r"task_loss must be one of \('mae', 'mse'\), got 'huber'"):
        KudaConfig(**SIZES, task_loss="huber")
    with pytest.raises(ValueError, match=r"test_ratio must be one of \('one', 'skip'\), got 'zero'"):
        KudaConfig(**SIZES, test_ratio="zero")


def test_injection_layers_must_increase_and_fit_the_checkpoint_depth():
    with pytest.raises(ValueError, match=r"strictly increasing .* got \(6, 3\)"):
        KudaConfig(**SIZES, text_injection_layers=(6, 3))
    with pytest.raises(ValueError, match=r"got \(0, 3\)"):
        KudaConfig(**SIZES, text_injection_layers=(0, 3))
    config = KudaConfig(**SIZES, text_injection_layers=(2, 5))
    config.check_text_depth(5)
    with pytest.raises(ValueError, match=r"checkpoint has 4 hidden layers, so each layer must be in 1\.\.4"):
        config.check_text_depth(4)


def test_adapter_and_modalities_validation():
    with pytest.raises(ValueError, match=r"down size 64 .* divisible by num_heads=5"):
        KudaConfig(**SIZES, vision_adapter=AdapterConfig(num_blocks=3, num_heads=5))
    with pytest.raises(ValueError, match=r"vision_adapter.num_blocks=5 exceeds vision_encoder.num_layers=4"):
        KudaConfig(**SIZES, vision_adapter=AdapterConfig(num_blocks=5))
    with pytest.raises(ValueError, match=r"text_adapter.num_blocks=2 differs"):
        KudaConfig(**SIZES, text_adapter=AdapterConfig(num_blocks=2))
    with pytest.raises(ValueError, match=r"modalities must be .* got \('t', 'x'\)"):
        KudaConfig(**SIZES, modalities=("t", "x"))
    with pytest.raises(ValueError, match=r"AdapterConfig.dropout must be in \[0, 1\), got 1.5"):
        AdapterConfig(dropout=1.5)
    with pytest.raises(ValueError, match=r"KudaConfig.fusion_blocks must be a positive integer, got 0"):
        KudaConfig(**SIZES, fusion_blocks=0)


def test_from_dict_builds_nested_configs_and_tuples():
    config = KudaConfig.from_dict(
        {
            **SIZES,
            "text_injection_layers": [6, 9],
            "vision_encoder": {"hidden_size": 64, "num_heads": 4},
            "audio_adapter": {"num_blocks": 2},
            "head_hidden_sizes": [32],
            "modalities": ["t", "a"],
        }
    )
    assert config.text_injection_layers == (6, 9)
    assert config.vision_encoder == SequenceEncoderConfig(hidden_size=64, num_heads=4)
    assert config.audio_adapter.num_blocks == 2
    assert config.head_hidden_sizes == (32,) and config.modalities == ("t", "a")


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['fusion_layers'\] in KudaConfig"):
        KudaConfig.from_dict({**SIZES, "fusion_layers": 3})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['hidden'\] in KudaConfig.audio_encoder"):
        KudaConfig.from_dict({**SIZES, "audio_encoder": {"hidden": 64}})


def test_layer_norm_eps_defaults_to_the_public_code_and_is_validated():
    assert KudaConfig(**SIZES).layer_norm_eps == 1e-6
    for bad in (0, -1e-6, 1.5, "1e-6", True):
        with pytest.raises(ValueError, match=r"KudaConfig.layer_norm_eps must be a number in \(0, 1\), got"):
            KudaConfig(**SIZES, layer_norm_eps=bad)
