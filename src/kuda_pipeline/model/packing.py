"""Packed tokens: the steps of every row of a (B, L) batch up to its last valid one, concatenated (N tokens).

Per-token layers (embeddings, linear maps, LayerNorm, GELU, dropout) run on exactly the N tokens a batch
holds: no padded step, one full-size matrix product per layer. Attention, the one operation across steps,
unpacks its queries, keys and values into the (B, L) layout and packs its output back.
"""

from __future__ import annotations

import torch

from kuda_pipeline.model.trimming import valid_lengths


class Packing:
    """Where the N packed tokens of a (B, L) valid mask sit: row-major, each row's steps 0 .. length - 1.

    A row's length is 1 + its last valid step (`trimming.valid_lengths`): steps before it that are not valid
    are packed too (as queries), and masked as keys by the attention.
    """

    def __init__(self, valid: torch.Tensor) -> None:
        self.batch, self.length = valid.shape
        steps = torch.arange(self.length, device=valid.device)  # (L,)
        inside = steps[None, :] < valid_lengths(valid)[:, None]  # (B, L)
        self.index = inside.flatten().nonzero().squeeze(1)  # (N,) positions in the flattened (B L) layout
        self.positions = self.index % self.length  # (N,) step of each token within its row

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, ...) -> (N, ...): the packed tokens."""
        return x.flatten(0, 1).index_select(0, self.index)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, L, ...), zeros at the steps after each row's length."""
        flat = x.new_zeros((self.batch * self.length, *x.shape[1:])).index_copy(0, self.index, x)
        return flat.unflatten(0, (self.batch, self.length))
