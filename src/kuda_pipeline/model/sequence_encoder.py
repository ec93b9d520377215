"""Vision/audio branch (eq. 2): input projection + learned positions + post-norm Transformer layers."""

from __future__ import annotations

import torch
from torch import nn

from kuda_pipeline.model.config import SequenceEncoderConfig
from kuda_pipeline.model.layers import EncoderLayer


class SequenceEncoder(nn.Module):
    """Features (B, L, D) -> hidden states h^0 (projection + positions) ... h^N, each (B, L, d).

    As in the public code: GELU, post-norm layers, feed-forward `ffn_size`, position embedding
    initialised at zero and no dropout on it. Padded input steps are zeroed and never attended to,
    so no output at a valid step depends on them. Features may be shorter than `length` (trimmed
    padding): positions 0 .. L - 1 are used.
    """

    def __init__(self, input_size: int, length: int, config: SequenceEncoderConfig) -> None:
        super().__init__()
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.input_projection = nn.Linear(input_size, config.hidden_size)
        self.position_embedding = nn.Parameter(torch.zeros(length, config.hidden_size))
        self.layers = nn.ModuleList(
            EncoderLayer(
                config.hidden_size, config.num_heads, config.ffn_size, config.dropout, config.attention_dropout
            )
            for _ in range(config.num_layers)
        )

    def forward(self, features: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, L, D) features, (B, L) valid mask, L <= length -> num_layers + 1 hidden states of (B, L, d)."""
        length = features.shape[1]
        if length > self.position_embedding.shape[0] or features.shape[2] != self.input_projection.in_features:
            raise ValueError(
                f"expected features of shape (B, L <= {self.position_embedding.shape[0]}, "
                f"{self.input_projection.in_features}), got {tuple(features.shape)}"
            )
        features = features.masked_fill(~valid[..., None], 0.0)
        hidden = self.input_projection(features) + self.position_embedding[:length]
        states = [hidden]
        for layer in self.layers:
            hidden = layer(hidden, valid)
            states.append(hidden)
        return tuple(states)
