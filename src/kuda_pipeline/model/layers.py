"""Building blocks shared by the encoders, adapters and fusion: attention, feed-forward, pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kuda_pipeline.model.attention import attend, key_mask
from kuda_pipeline.model.dropout import Dropout


def masked_mean(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean over the length axis of (B, L, d) over the valid steps only -> (B, d); all steps when `valid` is None.

    A row without valid steps gives zeros. Padded values never enter (masked, not multiplied, so inf/NaN stay out).
    """
    if valid is None:
        return x.mean(dim=1)
    total = x.masked_fill(~valid[..., None], 0.0).sum(dim=1)  # (B, d)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1)
    return total / count


class MultiHeadAttention(nn.Module):
    """Multi-head attention on `F.scaled_dot_product_attention`; explicit maps only when asked for.

    Width `num_heads * head_dim` (by default `dim`). `key_valid` (B, L_k) bool, True = a key to attend to;
    a row without any valid key attends to all keys instead (its outputs must be discarded by the caller),
    so that no NaN appears. `attention_dropout` drops attention probabilities (training only).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        head_dim: int | None = None,
        attention_dropout: float = 0.0,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        if head_dim is None:
            if dim % num_heads:
                raise ValueError(f"attention dim={dim} is not divisible by num_heads={num_heads}")
            head_dim = dim // num_heads
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        inner = num_heads * head_dim
        self.query = nn.Linear(dim, inner, bias=qkv_bias)
        self.key_value = nn.Linear(dim, 2 * inner, bias=qkv_bias)
        self.output = nn.Linear(inner, dim)

    def forward(
        self,
        query: torch.Tensor,
        source: torch.Tensor,
        key_valid: torch.Tensor | None = None,
        return_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, L_q, dim) queries over (B, L_k, dim) keys/values -> ((B, L_q, dim), head-averaged (B, L_q, L_k) or None)."""
        batch, length, _ = query.shape
        q = self.query(query).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)  # (B, H, L_q, d_h)
        k, v = self.key_value(source).unflatten(-1, (2, self.num_heads, -1)).permute(2, 0, 3, 1, 4)  # 2x (B, H, L_k, d_h)
        mask = None if key_valid is None else key_mask(key_valid)  # (B, 1, 1, L_k)
        dropout = self.attention_dropout if self.training else 0.0
        weights = None
        if return_weights:
            scores = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5  # (B, H, L_q, L_k)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            probabilities = scores.softmax(dim=-1)
            weights = probabilities.mean(dim=1)  # (B, L_q, L_k)
            attended = F.dropout(probabilities, dropout, self.training) @ v  # (B, H, L_q, d_h)
        else:
            attended = attend(q, k, v, mask, dropout)  # (B, H, L_q, d_h)
        attended = attended.transpose(1, 2).reshape(batch, length, -1)  # (B, L_q, H * d_h)
        return self.output(attended), weights


class FeedForward(nn.Sequential):
    """Linear -> GELU -> dropout -> linear -> dropout."""

    def __init__(self, dim: int, hidden_size: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, hidden_size),
            nn.GELU(),
            Dropout(dropout),
            nn.Linear(hidden_size, dim),
            Dropout(dropout),
        )


class EncoderLayer(nn.Module):
    """Post-norm Transformer encoder layer with GELU, the math of `nn.TransformerEncoderLayer(norm_first=False,
    activation="gelu")` except that attention-probability dropout has its own rate."""

    def __init__(self, dim: int, num_heads: int, ffn_size: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(dim, num_heads, attention_dropout=attention_dropout)
        self.attention_dropout = Dropout(dropout)
        self.attention_norm = nn.LayerNorm(dim)
        self.feed_forward = FeedForward(dim, ffn_size, dropout)
        self.feed_forward_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """(B, L, dim) with (B, L) valid mask -> (B, L, dim); padded steps are never attended to."""
        attended, _ = self.attention(x, x, key_valid=valid)
        x = self.attention_norm(x + self.attention_dropout(attended))
        return self.feed_forward_norm(x + self.feed_forward(x))
