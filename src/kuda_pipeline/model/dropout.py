"""Dropout masks drawn from raw random bytes: nn.Dropout's distribution at a fraction of its CPU cost.

On CPU, `nn.Dropout` draws its mask with `bernoulli_` (about 9 ns per element on the benchmark machine).
`keep_draws` keeps an element when a uniform 32-bit draw u is >= T = round(p 2^32), the comparison made
a byte at a time: u's top byte, one byte of numpy's SFC64 raw words per element, decides unless it
equals T's (probability 1/256), and only those elements draw their 24 low bits. Each element is kept
with probability 1 - T / 2^32, within 2^-33 of 1 - p (a uniform float32 draw has 24 bits, 2^-24), from
about 8 random bits per element. Seeds come from torch's default generator, so `torch.manual_seed`
still fixes every mask.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

_WORD_RANGE = 2**32
_LOW_BITS = 24  # the bits of a 32-bit draw below its top byte


def draw_seed() -> int:
    """A seed for numpy's generator, drawn from torch's default generator (reproducible from `torch.manual_seed`)."""
    return int(torch.randint(2**62, (), dtype=torch.int64))


def keep_draws(generator: np.random.SFC64, shape: tuple[int, ...], dropout: float) -> np.ndarray:
    """Bool array of `shape`, True where an element is kept: its 32-bit draw u >= round(`dropout` 2^32).

    Consumes one raw byte per element, then one 32-bit half word per element whose top byte ties with the
    threshold's: consecutive calls continue one random stream.
    """
    count = int(np.prod(shape))
    threshold = round(dropout * _WORD_RANGE)
    if threshold >= _WORD_RANGE:  # dropout 1: nothing kept
        return np.zeros(shape, dtype=bool)
    top = generator.random_raw(-(-count // 8)).view(np.uint8)[:count]  # (count,) u's top bytes
    threshold_top = np.uint8(threshold >> _LOW_BITS)
    kept = top > threshold_top
    ties = np.flatnonzero(top == threshold_top)
    if ties.size:
        low = generator.random_raw(-(-ties.size // 2)).view(np.uint32)[: ties.size] >> np.uint32(32 - _LOW_BITS)
        kept[ties] = low >= threshold % (1 << _LOW_BITS)
    return kept.reshape(shape)


def float_mask(kept: np.ndarray) -> torch.Tensor:
    """float32 tensor of `kept`'s shape: 1.0 where kept, else 0.0."""
    mask = torch.empty(kept.shape)
    np.copyto(mask.numpy(), kept)
    return mask


def keep_mask(generator: np.random.SFC64, shape: tuple[int, ...], dropout: float) -> torch.Tensor:
    """Float tensor of `shape`, 1.0 where an element is kept (probability 1 - `dropout`, `keep_draws`), else 0.0."""
    return float_mask(keep_draws(generator, shape, dropout))


class Dropout(nn.Dropout):
    """`nn.Dropout` (same distribution: kept with probability 1 - p, scaled by 1 / (1 - p)) with `keep_mask`'s
    cheaper masks on CPU; on other devices, or outside training, exactly `nn.Dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu" or self.inplace:
            return super().forward(x)
        return _cpu_dropout(x, self.p)


@torch.compiler.disable  # runs eagerly inside a compiled model: its seed is a Python int drawn per call
def _cpu_dropout(x: torch.Tensor, dropout: float) -> torch.Tensor:
    mask = keep_mask(np.random.SFC64(draw_seed()), x.shape, dropout)
    if dropout < 1.0:
        mask = mask.mul_(1.0 / (1.0 - dropout))
    return x * mask.to(x.dtype)


def use_fast_dropout(module: nn.Module) -> nn.Module:
    """Replace every `nn.Dropout` inside `module` (e.g. a Hugging Face BERT) by `Dropout` of the same rate;
    returns `module`."""
    plain = [(parent, name, child) for parent in module.modules() for name, child in parent.named_children()
             if type(child) is nn.Dropout]
    for parent, name, child in plain:
        setattr(parent, name, Dropout(child.p, child.inplace))
    return module
