"""Knowledge-injection adapter (eq. 3), a stack of bottleneck Transformer blocks beside the encoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kuda_pipeline.model.config import AdapterConfig
from kuda_pipeline.model.layers import EncoderLayer


class AdapterBlock(nn.Module):
    """y = LN(previous + h^l) (LN(previous) when nothing is injected); y + Up(Encoder(Down(y))) with
    Down d -> d/2, feed-forward d/4, Up d/2 -> d.

    `own_norm=False` leaves the LayerNorm to the caller (`norm` is None): the public code's adapter
    shares one LayerNorm across its blocks.
    """

    def __init__(self, hidden_size: int, config: AdapterConfig, own_norm: bool = True) -> None:
        super().__init__()
        down_size = hidden_size // 2
        self.norm = nn.LayerNorm(hidden_size) if own_norm else None
        self.down = nn.Linear(hidden_size, down_size)
        self.layers = nn.ModuleList(
            EncoderLayer(down_size, config.num_heads, hidden_size // 4, config.dropout, config.attention_dropout)
            for _ in range(config.num_layers)
        )
        self.up = nn.Linear(down_size, hidden_size)

    def forward(
        self,
        previous: torch.Tensor,
        injected: torch.Tensor | None,
        valid: torch.Tensor,
        norm: nn.Module | None = None,
    ) -> torch.Tensor:
        """(B, L, d) previous output, (B, L, d) injected hidden state or None, (B, L) valid mask -> (B, L, d).

        `norm`: the shared LayerNorm, for a block without its own.
        """
        x = (self.norm if norm is None else norm)(previous if injected is None else previous + injected)
        hidden = self.down(x)  # (B, L, d/2)
        for layer in self.layers:
            hidden = layer(hidden, valid)
        return x + self.up(hidden)


class KnowledgeAdapter(nn.Module):
    """Blocks reading the encoder's hidden states `injection_layers`: block 1 gets h^0 + h^{l_1},
    block j the previous block's output + h^{l_j}. The last output is the knowledge representation H^k.

    With `inject=False` ("w/o EKI") there is one block per injection layer still, but none reads an
    intermediate layer: block 1 gets h^0, block j the previous block's output.
    With `shared_norm=True` (the public code) the blocks have no LayerNorm of their own and all use
    `norm`; otherwise `norm` is None and each block has its own.
    """

    def __init__(
        self,
        hidden_size: int,
        injection_layers: Sequence[int],
        config: AdapterConfig,
        inject: bool = True,
        shared_norm: bool = False,
    ) -> None:
        super().__init__()
        self.injection_layers = tuple(injection_layers)
        self.inject = inject
        self.norm = nn.LayerNorm(hidden_size) if shared_norm else None
        self.blocks = nn.ModuleList(
            AdapterBlock(hidden_size, config, own_norm=not shared_norm) for _ in self.injection_layers
        )

    @property
    def states_read(self) -> set[int]:
        """Which hidden states `forward` reads: h^0, and the injection layers' when injecting."""
        return {0, *(self.injection_layers if self.inject else ())}

    def forward(self, hidden_states: Sequence[torch.Tensor], valid: torch.Tensor) -> torch.Tensor:
        """Hidden states h^0 ... h^N, each (B, L, d), and the (B, L) valid mask -> H^k (B, L, d)."""
        x = hidden_states[0]
        for layer, block in zip(self.injection_layers, self.blocks):
            x = block(x, hidden_states[layer] if self.inject else None, valid, self.norm)
        return x
