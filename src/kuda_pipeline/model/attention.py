"""Scaled dot-product attention with attention-probability dropout that keeps no (L_q x L_k) map alive on CPU.

`F.scaled_dot_product_attention` with `dropout_p > 0` has no fused CPU kernel: it falls back to the math
path, which materialises and keeps for backward the scores, probabilities, dropout mask and dropped
probabilities of every layer. `attend` dispatches instead:

- no dropout (or evaluation), or a CUDA tensor: `F.scaled_dot_product_attention` (the fused CUDA
  kernels support dropout);
- dropout on CPU: `ChunkedDropoutAttention`, the same math over tiles of (heads, queries) that fit in the
  cache. Forward keeps q, k, v, the output and the dropout masks as bits (the masks are `dropout.keep_draws`'s,
  from a seed drawn from torch's default generator, so runs stay reproducible from `torch.manual_seed`);
  backward recomputes each tile's probabilities.

The dropout is `nn.Dropout`'s: each probability is kept with probability 1 - p and scaled by 1 / (1 - p).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from kuda_pipeline.model.dropout import draw_seed, float_mask, keep_draws

TILE_ELEMENTS = 2**18  # probabilities per tile (1 MiB of float32): the fastest step of 2^16 .. 2^19 (docs)


def tiles(heads: int, length_q: int, length_k: int, elements: int = TILE_ELEMENTS) -> list[tuple[slice, slice]]:
    """(heads, queries) slices cutting a (heads, L_q, L_k) map into tiles of about `elements` probabilities:
    all queries of several heads when one head's map is smaller, else even blocks of queries of one head."""
    query_blocks = -(-length_q * length_k // elements)  # ceil
    block = -(-length_q // query_blocks)
    heads_per_tile = max(1, elements // (block * length_k))
    return [
        (slice(head, min(head + heads_per_tile, heads)), slice(query, min(query + block, length_q)))
        for head in range(0, heads, heads_per_tile)
        for query in range(0, length_q, block)
    ]


def keep_masks(seed: int, tiling: list[tuple[slice, slice]], length_k: int, dropout: float):
    """Yield the keep mask (heads, queries, L_k) bool of each tile of `tiling`, in order.

    Each element is kept with probability 1 - `dropout` (`dropout.keep_draws`, one SFC64 stream seeded with
    `seed`): the same arguments give the same masks.
    """
    generator = np.random.SFC64(seed)
    for heads, queries in tiling:
        yield keep_draws(generator, (heads.stop - heads.start, queries.stop - queries.start, length_k), dropout)


class ChunkedDropoutAttention(torch.autograd.Function):
    """softmax(q k^T / sqrt(d_h) + key_bias) with dropout, times v, one tile of (heads, queries) at a time (CPU).

    Heads are folded into the batch and the map is cut by `tiles` into pieces that fit in the cache, so
    that the softmax, the mask and the products of a tile never go to main memory. Saves q, k, v, the
    output and the keep masks as bits (one bit per probability); backward recomputes each tile's
    probabilities.
    """

    @staticmethod
    def _operands(q, k, v, key_bias):
        """(B H, L, d_h) views: q scaled by 1/sqrt(d_h), k, v; key bias as (B H, 1, L_k) or None."""
        batch, heads, length_q, head_dim = q.shape
        fold = (batch * heads, -1, head_dim)
        bias = None
        if key_bias is not None:
            bias = key_bias.expand(batch, heads, 1, k.shape[2]).reshape(batch * heads, 1, -1)
        return (q * head_dim**-0.5).reshape(fold), k.reshape(fold), v.reshape(fold), bias

    @staticmethod
    def _probabilities(q_tile, k_tile, bias, heads):
        """softmax over keys of one tile: (h, c, d_h) scaled queries, (h, L_k, d_h) keys, the (B H, 1, L_k) key
        bias or None, the tile's `heads` slice -> (h, c, L_k)."""
        k_transposed = k_tile.transpose(1, 2)
        if bias is None:
            return torch.bmm(q_tile, k_transposed).softmax(dim=-1)
        return torch.baddbmm(bias[heads], q_tile, k_transposed).softmax(dim=-1)

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, q, k, v, key_bias, dropout, seed, elements):  # noqa: D102 (documented on the class)
        # q (B, H, L_q, d_h), k/v (B, H, L_k, d_h), key_bias (B, 1, 1, L_k) additive (0 or -inf) or None
        q_folded, k_folded, v_folded, bias = ChunkedDropoutAttention._operands(q, k, v, key_bias)
        output = q_folded.new_empty(q_folded.shape)  # (B H, L_q, d_h)
        tiling = tiles(q_folded.shape[0], q_folded.shape[1], k_folded.shape[1], elements)
        packed_masks = []  # each tile's keep mask, 8 per byte
        for (heads, queries), kept in zip(tiling, keep_masks(seed, tiling, k_folded.shape[1], dropout)):
            q_tile, k_tile = q_folded[heads, queries], k_folded[heads]
            probabilities = ChunkedDropoutAttention._probabilities(q_tile, k_tile, bias, heads)
            torch.bmm(probabilities.mul_(float_mask(kept)), v_folded[heads], out=output[heads, queries])
            packed_masks.append(np.packbits(kept))
        output = output.mul_(1.0 / (1.0 - dropout)).view(q.shape)
        ctx.save_for_backward(q, k, v, key_bias, output)
        ctx.dropout, ctx.tiling, ctx.packed_masks = dropout, tiling, packed_masks
        return output

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_output):  # noqa: D102
        q, k, v, key_bias, output = ctx.saved_tensors
        q_folded, k_folded, v_folded, bias = ChunkedDropoutAttention._operands(q, k, v, key_bias)
        grad_folded = grad_output.reshape(q_folded.shape)  # (B H, L_q, d_h)
        row_dot = (grad_folded * output.view(q_folded.shape)).sum(dim=-1, keepdim=True)  # rowsum(dO * O)
        grad_scaled = grad_folded * (1.0 / (1.0 - ctx.dropout))  # the 1 / (1 - p) of every kept probability
        grad_q = torch.empty_like(q_folded)
        grad_k = torch.zeros_like(k_folded)
        grad_v = torch.zeros_like(v_folded)
        for (heads, queries), packed in zip(ctx.tiling, ctx.packed_masks):
            q_tile, k_tile, v_tile = q_folded[heads, queries], k_folded[heads], v_folded[heads]
            probabilities = ChunkedDropoutAttention._probabilities(q_tile, k_tile, bias, heads)  # (h, c, L_k)
            kept = np.unpackbits(packed, count=probabilities.numel()).view(bool).reshape(probabilities.shape)
            dropped = probabilities * float_mask(kept)
            grad_tile = grad_scaled[heads, queries]  # (h, c, d_h)
            grad_v[heads].baddbmm_(dropped.transpose(1, 2), grad_tile)
            # softmax backward with dropout: P * (dP - rowsum(dO * O)), dP = (dO V^T) * keep / (1 - p)
            grad_scores = torch.bmm(grad_tile, v_tile.transpose(1, 2)).mul_(dropped)
            grad_scores.addcmul_(probabilities, row_dot[heads, queries], value=-1.0)
            torch.bmm(grad_scores, k_tile, out=grad_q[heads, queries])
            grad_k[heads].baddbmm_(grad_scores.transpose(1, 2), q_tile)
        scale = q.shape[-1] ** -0.5  # scores = (q / sqrt(d_h)) k^T: the scale of q's gradient
        return grad_q.mul_(scale).view(q.shape), grad_k.view(k.shape), grad_v.view(v.shape), None, None, None, None


def key_mask(key_valid: torch.Tensor) -> torch.Tensor:
    """(B, L_k) valid keys -> (B, 1, 1, L_k) keys to attend to, for `attend`; a row without a valid key attends to
    all (no NaN; the caller must discard its outputs)."""
    return (key_valid | ~key_valid.any(dim=1, keepdim=True))[:, None, None, :]


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_keep: torch.Tensor | None, dropout: float
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_h)) v over the kept keys, probabilities dropped at rate `dropout` (0 = none).

    q (B, H, L_q, d_h), k/v (B, H, L_k, d_h), key_keep (B, 1, 1, L_k) bool or None -> (B, H, L_q, d_h).
    Every query row must keep at least one key.
    """
    if dropout == 0.0 or q.device.type == "cuda":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=key_keep, dropout_p=dropout)
    return _chunked_dropout_attention(q, k, v, key_keep, dropout)


@torch.compiler.disable  # runs eagerly inside a compiled model: its seed is a Python int drawn per call
def _chunked_dropout_attention(q, k, v, key_keep, dropout):
    key_bias = None
    if key_keep is not None:
        key_bias = torch.zeros(key_keep.shape, dtype=q.dtype, device=q.device).masked_fill_(~key_keep, float("-inf"))
    return ChunkedDropoutAttention.apply(q, k, v, key_bias, dropout, draw_seed(), TILE_ELEMENTS)
