"""Dropout from raw 32-bit draws: nn.Dropout's distribution, gradients and modes; BERT's dropouts swapped."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from kuda_pipeline.model.dropout import Dropout, keep_draws, keep_mask, use_fast_dropout
from kuda_pipeline.model.text_encoder import TextEncoder
from tiny_models import tiny_bert


@pytest.mark.parametrize("dropout", [0.1, 0.2, 0.5])
def test_keep_rate_is_one_minus_p_within_a_binomial_bound(dropout):
    shape = (64, 1000, 63)  # count not a multiple of 8: the last raw word is part used
    keep = keep_mask(np.random.SFC64(0), shape, dropout)
    assert keep.shape == shape and keep.dtype == torch.float32
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    total = math.prod(shape)
    assert abs(float(keep.mean()) - (1 - dropout)) < 5 * math.sqrt(dropout * (1 - dropout) / total)  # 5 sigma


def test_keep_mask_edges_and_one_stream_across_calls():
    assert keep_mask(np.random.SFC64(0), (3, 5), 0.0).eq(1).all()
    assert keep_mask(np.random.SFC64(0), (3, 5), 1.0).eq(0).all()
    generator = np.random.SFC64(7)
    first, second = keep_mask(generator, (4, 1000), 0.5), keep_mask(generator, (4, 1000), 0.5)
    assert torch.equal(first, keep_mask(np.random.SFC64(7), (4, 1000), 0.5))  # the same seed, the same mask
    assert not torch.equal(first, second)  # the second call continues the stream


class _Words:
    """A stand-in for SFC64 that hands out the given raw 64-bit words, in order."""

    def __init__(self, *words: list[int]) -> None:
        self.words = list(words)

    def random_raw(self, count: int) -> np.ndarray:
        words = np.array(self.words.pop(0), dtype=np.uint64)
        assert words.size == count
        return words


def test_keep_draws_is_the_32_bit_comparison_made_a_byte_at_a_time():
    """p = 0.2: T = 0x33333333. Top bytes 0x33 tie with T's and are decided by the 24 bits drawn after them."""
    tops = [0x32, 0x33, 0x33, 0x34, 0x00, 0xFF, 0x33, 0x33]  # one raw word: a byte per element, low byte first
    lows = [0x333332, 0x333333, 0x333334, 0xFFFFFF]  # the four ties, in order: the top 24 bits of 32-bit halves
    halves = [(low << 8) | 0xAB for low in lows]  # the byte below is not read
    words = [sum(top << (8 * i) for i, top in enumerate(tops)), halves[0] | halves[1] << 32, halves[2] | halves[3] << 32]
    kept = keep_draws(_Words([words[0]], words[1:]), (2, 4), 0.2)
    assert kept.tolist() == [[False, False, True, True], [False, True, True, True]]
    draws = np.array(tops, dtype=np.int64) << 24  # the 32-bit draws: ties get their low bits, others any
    draws[[1, 2, 6, 7]] |= lows
    assert kept.reshape(-1).tolist() == (draws >= round(0.2 * 2**32)).tolist()


def test_dropout_scales_kept_elements_and_matches_its_gradient():
    torch.manual_seed(0)
    layer = Dropout(0.25).train()
    x = torch.rand(50, 40, dtype=torch.float64) + 1.0  # no zeros: kept elements are recognisable
    x.requires_grad_(True)
    out = layer(x)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.75)
    out.backward(torch.ones_like(out))
    torch.testing.assert_close(x.grad, kept.double() / 0.75)  # d out / d x = mask / (1 - p)
    assert out.dtype == torch.float64


def test_expectation_equals_the_input():
    """Mean of N draws of dropout(1) per element: within 6 standard errors, mean squared z-score ~ 1."""
    torch.manual_seed(0)
    dropout, draws, x = 0.2, 400, torch.ones(2000)
    mean = sum(Dropout(dropout)(x) for _ in range(draws)) / draws
    z = (mean - 1) / math.sqrt(dropout / (1 - dropout) / draws)  # variance of m / (1 - p): p / (1 - p)
    assert z.abs().max() < 6
    assert abs(float((z**2).mean()) - 1) < 5 * math.sqrt(2 / z.numel())


def test_reproducible_from_torch_manual_seed_and_identity_outside_training():
    x = torch.randn(4, 7)
    torch.manual_seed(3)
    first = Dropout(0.5)(x)
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.5)(x), first)
    assert not torch.equal(Dropout(0.5)(x), first)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0)(x), x)


def test_use_fast_dropout_swaps_every_plain_dropout_and_keeps_the_rates():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.3), nn.Sequential(nn.Dropout(0.1)))
    use_fast_dropout(model)
    assert [type(m) for m in (model[1], model[2][0])] == [Dropout, Dropout]
    assert [model[1].p, model[2][0].p] == [0.3, 0.1]


def test_text_encoder_bert_uses_fast_dropout_with_unchanged_weights_and_eval_outputs():
    bert = tiny_bert(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1).eval()
    text = torch.stack([torch.randint(1, 50, (2, 6)), torch.ones(2, 6, dtype=torch.long),
                        torch.zeros(2, 6, dtype=torch.long)], dim=1)  # (B, 3, L)
    expected = bert(input_ids=text[:, 0], attention_mask=text[:, 1], token_type_ids=text[:, 2]).last_hidden_state
    state = {k: v.clone() for k, v in bert.state_dict().items()}
    encoder = TextEncoder(bert).eval()
    dropouts = [m for m in encoder.modules() if isinstance(m, nn.Dropout)]
    assert dropouts and all(type(m) is Dropout for m in dropouts)
    assert encoder.bert.state_dict().keys() == state.keys()
    torch.testing.assert_close(encoder(text, text[:, 1] != 0)[-1], expected)
    encoder.train()
    assert not torch.equal(encoder(text, text[:, 1] != 0)[-1], expected)
