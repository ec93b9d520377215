"""Dropout masks drawn from raw 32-bit random words: nn.Dropout's distribution at a fraction of its CPU cost.

On CPU, `nn.Dropout` draws its mask with `bernoulli_` (about 9 ns per element on the benchmark machine) and
the chunked attention drew uniform floats with numpy (about 5 ns). `keep_mask` takes raw 64-bit words
from numpy's SFC64 generator, reads each as two uint32 draws u and keeps an element when u >= round(p 2^32),
in one vectorised comparison written straight into a float tensor (about 2 ns per element): each element
is kept with probability 1 - round(p 2^32) / 2^32, within 2^-33 of 1 - p (a uniform float32 draw has
24 bits, 2^-24). Seeds come from torch's default generator, so `torch.manual_seed` still fixes every mask.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

_WORD_RANGE = 2**32


def draw_seed() -> int:
    """A seed for numpy's generator, drawn from torch's default generator (reproducible from `torch.manual_seed`)."""
    return int(torch.randint(2**62, (), dtype=torch.int64))


def keep_mask(generator: np.random.SFC64, shape: tuple[int, ...], dropout: float) -> torch.Tensor:
    """Float tensor of `shape`, 1.0 where an element is kept (probability 1 - `dropout`), else 0.0.

    Consumes ceil(numel / 2) raw words of `generator`: consecutive calls continue one random stream.
    """
    keep = torch.empty(shape)
    count = keep.numel()
    threshold = round(dropout * _WORD_RANGE)
    if threshold >= _WORD_RANGE:  # dropout 1: nothing kept
        return keep.zero_()
    words = generator.random_raw((count + 1) // 2).view(np.uint32)[:count]  # (numel,) uniform in 0 .. 2^32 - 1
    np.greater_equal(words, np.uint32(threshold), out=keep.numpy().reshape(-1), casting="unsafe")
    return keep


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
