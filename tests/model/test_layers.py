"""Building blocks: attention, pooling, encoders, adapter, projector, dynamic attention block, text encoder."""

import pytest
import torch
from torch import nn
from tiny_models import tiny_kuda_bert

from kuda_pipeline.model.adapter import KnowledgeAdapter
from kuda_pipeline.model.config import AdapterConfig, KudaConfig, SequenceEncoderConfig
from kuda_pipeline.model.fusion import DynamicAttentionBlock, ModalityProjector
from kuda_pipeline.model.heads import UnimodalDecoder
from kuda_pipeline.model.layers import MultiHeadAttention, masked_mean
from kuda_pipeline.model.sequence_encoder import SequenceEncoder
from kuda_pipeline.model.text_encoder import (
    TextEncoder,
    embedded_text_encoder_dir,
    load_text_encoder,
)


def test_masked_mean_ignores_padding_even_when_infinite():
    x = torch.tensor([[[1.0], [3.0], [float("inf")]], [[5.0], [7.0], [9.0]], [[float("nan")], [1.0], [1.0]]])
    valid = torch.tensor([[True, True, False], [True, True, True], [False, False, False]])
    torch.testing.assert_close(masked_mean(x, valid), torch.tensor([[2.0], [7.0], [0.0]]))


def test_attention_with_weights_matches_fused_path_and_respects_the_mask():
    torch.manual_seed(0)
    attention = MultiHeadAttention(dim=8, num_heads=2, head_dim=3).eval()
    query, source = torch.randn(3, 4, 8), torch.randn(3, 5, 8)
    valid = torch.tensor([[True] * 5, [True, True, False, False, False], [False] * 5])
    fused, none = attention(query, source, key_valid=valid)
    explicit, weights = attention(query, source, key_valid=valid, return_weights=True)
    assert none is None and weights.shape == (3, 4, 5)
    torch.testing.assert_close(fused, explicit)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    assert (weights[1, :, 2:] == 0).all()
    assert torch.isfinite(fused).all()  # a row without valid keys attends to all instead of giving NaN


def test_attention_rejects_heads_not_dividing_dim():
    with pytest.raises(ValueError, match=r"dim=10 is not divisible by num_heads=4"):
        MultiHeadAttention(dim=10, num_heads=4)


def test_sequence_encoder_returns_every_layer_and_checks_shapes():
    encoder = SequenceEncoder(5, 6, SequenceEncoderConfig(hidden_size=16, num_layers=3, num_heads=2, ffn_size=8))
    states = encoder(torch.randn(2, 6, 5), torch.ones(2, 6, dtype=torch.bool))
    assert len(states) == 4 and all(s.shape == (2, 6, 16) for s in states)
    with pytest.raises(ValueError, match=r"expected features of shape \(B, L <= 6, 5\), got \(2, 7, 5\)"):
        encoder(torch.randn(2, 7, 5), torch.ones(2, 7, dtype=torch.bool))


def test_adapter_reads_only_its_injection_layers():
    torch.manual_seed(0)
    adapter = KnowledgeAdapter(16, (1, 3), AdapterConfig(num_heads=2)).eval()
    assert len(adapter.blocks) == 2
    block = adapter.blocks[0]
    assert (block.down.out_features, block.layers[0].feed_forward[0].out_features, len(block.layers)) == (8, 4, 2)
    states = [torch.randn(2, 5, 16) for _ in range(4)]
    valid = torch.ones(2, 5, dtype=torch.bool)
    reference = adapter(states, valid)
    assert reference.shape == (2, 5, 16)
    torch.testing.assert_close(adapter([*states[:2], torch.randn(2, 5, 16), states[3]], valid), reference)
    assert not torch.allclose(adapter([*states[:3], torch.randn(2, 5, 16)], valid), reference)


def test_decoder_sizes_halve_down_to_an_eighth():
    decoder = UnimodalDecoder(32)
    sizes = [(m.in_features, m.out_features) for m in decoder.modules() if isinstance(m, nn.Linear)]
    assert sizes == [(64, 16), (16, 8), (8, 4), (4, 1)]
    assert decoder(torch.randn(3, 5, 64), torch.ones(3, 5, dtype=torch.bool)).shape == (3,)


def test_projector_zeroes_padding_before_the_length_projection():
    torch.manual_seed(0)
    projector = ModalityProjector(input_size=6, input_length=5, fusion_dim=4, fusion_length=3)
    representation = torch.randn(2, 5, 6)
    valid = torch.tensor([[True, True, True, False, False], [True] * 5])
    reference = projector(representation, valid)
    assert reference.shape == (2, 3, 4)
    perturbed = representation.clone()
    perturbed[0, 3:] = 1e6
    torch.testing.assert_close(projector(perturbed, valid), reference)


def test_dynamic_attention_block_weighting_follows_eq_10():
    torch.manual_seed(0)
    config = KudaConfig(
        text_length=4, vision_length=4, vision_dim=3, audio_length=4, audio_dim=3,
        fusion_dim=8, fusion_heads=2, fusion_head_dim=4, fusion_ffn_size=16,
    )
    block = DynamicAttentionBlock(config, ("t", "v")).eval()
    x = torch.randn(2, 4, 8)
    sources = {"t": torch.randn(2, 4, 8), "v": torch.randn(2, 4, 8)}
    ratios = {"t": torch.tensor([0.2, 0.7]), "v": torch.tensor([0.8, 0.3])}

    def rest_of_block(z: torch.Tensor) -> torch.Tensor:
        y = block.fusion_norm(x + block.weighting_norm(z))
        y = block.self_attention_norm(y + block.self_attention(y, y)[0])
        return block.feed_forward_norm(y + block.feed_forward(y))

    z = {m: block.cross[m](x, sources[m], False)[0] for m in sources}
    weighted = sum(block.modality_norms[m](z[m] + ratios[m][:, None, None] * z[m]) for m in sources)
    torch.testing.assert_close(block(x, sources, ratios)[0], rest_of_block(weighted))
    torch.testing.assert_close(block(x, sources, None)[0], rest_of_block(z["t"] + z["v"]))


def test_ratios_only_rescale_z_m_which_ln_m_normalises_away():
    """A property of eq. 10 (paper and public code alike): r_m is one scalar per sample, so
    LN_m(Z_m + r_m Z_m) = LN_m(Z_m) up to LayerNorm's eps; the ratios barely change the block's output."""
    torch.manual_seed(0)
    config = KudaConfig(
        text_length=4, vision_length=4, vision_dim=3, audio_length=4, audio_dim=3,
        fusion_dim=8, fusion_heads=2, fusion_head_dim=4, fusion_ffn_size=16,
    )
    block = DynamicAttentionBlock(config, ("t", "v")).eval()
    x, sources = torch.randn(2, 4, 8), {"t": torch.randn(2, 4, 8), "v": torch.randn(2, 4, 8)}
    ratios = {"t": torch.tensor([0.05, 0.9]), "v": torch.tensor([0.95, 0.1])}
    ones = {m: torch.ones(2) for m in sources}
    torch.testing.assert_close(block(x, sources, ratios)[0], block(x, sources, ones)[0], rtol=0, atol=1e-4)


def test_text_encoder_keeps_embeddings_and_every_layer():
    encoder = TextEncoder(tiny_kuda_bert())
    text = torch.stack([torch.randint(1, 100, (2, 7)), torch.ones(2, 7, dtype=torch.long), torch.zeros(2, 7, dtype=torch.long)], 1)
    states = encoder(text, text[:, 1] != 0)
    assert (encoder.hidden_size, encoder.num_layers, len(states)) == (32, 4, 5)
    assert all(s.shape == (2, 7, 32) for s in states)


def test_load_text_encoder_round_trip_and_missing_directory(tmp_path):
    bert = tiny_kuda_bert()
    bert.save_pretrained(tmp_path / "bert")
    loaded = load_text_encoder(tmp_path / "bert")
    assert loaded.config.num_hidden_layers == 4
    torch.testing.assert_close(loaded.embeddings.word_embeddings.weight, bert.embeddings.word_embeddings.weight)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent")):
        load_text_encoder(tmp_path / "absent")


def test_embedded_text_encoder_dir_holds_a_checkpoint():
    directory = embedded_text_encoder_dir()
    assert (directory / "config.json").is_file()
