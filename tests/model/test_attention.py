"""Chunked attention-probability dropout: same math as dropout on the full map, nn.Dropout's distribution."""

import math

import pytest
import torch
import torch.nn.functional as F

from kuda_pipeline.model.attention import ChunkedDropoutAttention, attend, keep_masks, tiles
from kuda_pipeline.model.layers import MultiHeadAttention


def _inputs(batch=2, heads=3, length_q=11, length_k=9, head_dim=4, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (
        torch.randn(batch, heads, length, head_dim, generator=generator, dtype=dtype, requires_grad=True)
        for length in (length_q, length_k, length_k)
    )
    key_keep = torch.arange(length_k) < torch.tensor([length_k, 5])[:, None]  # (B, L_k): second row 5 valid keys
    return q, k, v, key_keep[:, None, None, :]


def _bias(key_keep, dtype):
    return torch.zeros(key_keep.shape, dtype=dtype).masked_fill(~key_keep, float("-inf"))


def _full_masks(shape, dropout, seed, elements):
    """(B, H, L_q, L_k) keep masks of every tile of `tiles`, as `keep_masks` draws them, put in place."""
    batch, heads, length_q, length_k = shape
    tiling = tiles(batch * heads, length_q, length_k, elements)
    masks = torch.full((batch * heads, length_q, length_k), -1.0)
    for (tile_heads, queries), keep in zip(tiling, keep_masks(seed, tiling, length_k, dropout)):
        masks[tile_heads, queries] = torch.from_numpy(keep).float()
    assert torch.all(masks >= 0)  # the tiles cover the map
    return masks.view(shape)


def _reference(q, k, v, key_keep, dropout, seed, elements):
    """Dropout on the full probability map, with the masks `keep_masks` draws for the same seed and tiles."""
    masks = _full_masks((*q.shape[:3], k.shape[2]), dropout, seed, elements).to(q.dtype)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~key_keep, float("-inf"))
    return (scores.softmax(dim=-1) * masks / (1 - dropout)) @ v


@pytest.mark.parametrize(
    ("elements", "expected_tiles"),
    [
        (30, [(slice(h, h + 1), slice(q, min(q + 3, 11))) for h in range(6) for q in (0, 3, 6, 9)]),  # ragged
        (99, [(slice(h, h + 1), slice(0, 11)) for h in range(6)]),  # one head's whole map per tile
        (250, [(slice(0, 2), slice(0, 11)), (slice(2, 4), slice(0, 11)), (slice(4, 6), slice(0, 11))]),
        (10_000, [(slice(0, 6), slice(0, 11))]),  # the whole map in one tile
    ],
)
def test_tiles_cover_the_map_in_pieces_of_at_most_the_given_size(elements, expected_tiles):
    assert tiles(6, 11, 9, elements) == expected_tiles


@pytest.mark.parametrize("elements", [30, 99, 250, 10_000])
def test_chunked_attention_equals_dropout_on_the_full_map_with_the_same_masks(elements):
    q, k, v, key_keep = _inputs()
    grad = torch.randn(q.shape[:3] + (v.shape[-1],), dtype=q.dtype)
    expected = _reference(q, k, v, key_keep, 0.3, 7, elements)
    expected_grads = torch.autograd.grad(expected, (q, k, v), grad)
    actual = ChunkedDropoutAttention.apply(q, k, v, _bias(key_keep, q.dtype), 0.3, 7, elements)
    actual_grads = torch.autograd.grad(actual, (q, k, v), grad)
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    for got, want in zip(actual_grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_chunked_attention_passes_gradcheck():
    q, k, v, key_keep = _inputs(length_q=5, length_k=6)
    bias = _bias(key_keep, q.dtype)
    assert torch.autograd.gradcheck(lambda q, k, v: ChunkedDropoutAttention.apply(q, k, v, bias, 0.25, 3, 8), (q, k, v))


def test_masked_keys_get_no_weight_and_no_gradient():
    q, k, v, key_keep = _inputs()
    out = attend(q, k, v, key_keep, 0.4)
    out.sum().backward()
    assert torch.all(k.grad[1, :, 5:] == 0) and torch.all(v.grad[1, :, 5:] == 0)  # sample 1 keeps keys 0..4 only


def test_keep_rate_is_one_minus_p_within_a_binomial_bound():
    dropout, shape = 0.2, (4, 8, 200, 300)
    kept = _full_masks(shape, dropout, 0, 2**17).sum()
    total = math.prod(shape)
    rate = float(kept) / total
    assert abs(rate - (1 - dropout)) < 5 * math.sqrt(dropout * (1 - dropout) / total)  # 5 sigma


def test_expectation_equals_the_output_without_dropout():
    """Mean over N draws vs no dropout: every element within 6 standard errors, and mean squared z-score ~ 1.

    Each output element is sum_j P_ij m_ij v_j / (1 - p) with m_ij ~ Bernoulli(1 - p) independent, so its
    variance is sum_j P_ij^2 v_j^2 p / (1 - p).
    """
    torch.manual_seed(0)
    dropout, draws = 0.2, 2000
    q, k, v, key_keep = (t.detach() if t.dtype.is_floating_point else t for t in _inputs(batch=2, length_q=6))
    probabilities = (q @ k.transpose(-2, -1) / 2).masked_fill(~key_keep, float("-inf")).softmax(dim=-1)
    expected = probabilities @ v  # (B, H, L_q, d_h)
    variance = (probabilities**2) @ (v**2) * dropout / (1 - dropout)
    mean = sum(attend(q, k, v, key_keep, dropout) for _ in range(draws)) / draws
    z = (mean - expected) / (variance / draws).sqrt()
    assert z.abs().max() < 6
    count = z.numel()
    assert abs(float((z**2).mean()) - 1) < 5 * math.sqrt(2 / count)  # chi-square(count) / count: sd sqrt(2 / count)


def test_no_dropout_is_scaled_dot_product_attention_and_runs_are_reproducible():
    q, k, v, key_keep = _inputs()
    assert torch.equal(attend(q, k, v, key_keep, 0.0), F.scaled_dot_product_attention(q, k, v, attn_mask=key_keep))
    torch.manual_seed(5)
    first = attend(q, k, v, key_keep, 0.5)
    torch.manual_seed(5)
    assert torch.equal(attend(q, k, v, key_keep, 0.5), first)
    assert not torch.equal(attend(q, k, v, key_keep, 0.5), first)


def test_multi_head_attention_drops_probabilities_in_training_only():
    torch.manual_seed(0)
    layer = MultiHeadAttention(8, 2, attention_dropout=0.5)
    x = torch.randn(2, 5, 8)
    valid = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    exact = F.scaled_dot_product_attention  # the eval-mode path
    layer.eval()
    evaluated, _ = layer(x, x, key_valid=valid)
    layer.train()
    trained, _ = layer(x, x, key_valid=valid)
    assert not torch.allclose(trained, evaluated)
    q = layer.query(x).unflatten(-1, (2, -1)).transpose(1, 2)
    k, v = layer.key_value(x).unflatten(-1, (2, 2, -1)).permute(2, 0, 3, 1, 4)
    attended = exact(q, k, v, attn_mask=valid[:, None, None, :]).transpose(1, 2).reshape(2, 5, 8)
    torch.testing.assert_close(evaluated, layer.output(attended))


def test_bf16_autocast_on_cpu_runs_the_chunked_path_in_float32():
    q, k, v, key_keep = (t.detach().float() if t.dtype.is_floating_point else t for t in _inputs())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attend(q.bfloat16(), k.bfloat16(), v.bfloat16(), key_keep, 0.2)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_compiled_encoder_layer_gives_the_eager_result_with_dropout():
    """torch.compile (the aot_eager backend: no C++ build) runs the chunked path eagerly inside the graph."""
    from kuda_pipeline.model.layers import EncoderLayer

    torch.manual_seed(0)
    layer = EncoderLayer(16, 2, 8, dropout=0.0, attention_dropout=0.3)
    x = torch.randn(2, 7, 16, requires_grad=True)
    valid = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    results = []
    for model in (torch.compile(layer, backend="aot_eager"), layer):
        torch.manual_seed(1)
        out = model(x, valid)
        results.append((out, torch.autograd.grad(out.sum(), x)[0]))
    (compiled, compiled_grad), (eager, eager_grad) = results
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(compiled_grad, eager_grad)
