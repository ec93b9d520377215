"""Scaled dot-product attention with attention-probability dropout that keeps no (L_q x L_k) map alive on CPU.

`F.scaled_dot_product_attention` with `dropout_p > 0` has no fused CPU kernel: it falls back to the math
path, which materialises and keeps for backward the scores, probabilities, dropout mask and dropped
probabilities of every layer. `attend` dispatches instead:

- no dropout (or evaluation), or a CUDA tensor: `F.scaled_dot_product_attention` (the fused CUDA
  kernels support dropout);
- dropout on CPU: `ChunkedDropoutAttention`, the same math over blocks of queries. Forward keeps only
  q, k, v and the output; backward recomputes each block's probabilities and
  regenerates its dropout mask from a seed drawn from torch's default generator (so runs stay
  reproducible from `torch.manual_seed`; the masks themselves are `dropout.keep_mask`'s).

The dropout is `nn.Dropout`'s: each probability is kept with probability 1 - p and scaled by 1 / (1 - p).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from kuda_pipeline.model.dropout import draw_seed, keep_mask

QUERY_BLOCK = 32  # queries per block: the fastest of 32, 64, 128, 400 in benchmarks/attention_dropout.py


def keep_masks(seed: int, shape: tuple[int, ...], dropout: float, block: int):
    """Yield (first query, keep mask (B, H, c, L_k) float: 1 keep, 0 drop) for consecutive blocks of c <= `block` queries.

    `shape` is (B, H, L_q, L_k). Each element is kept with probability 1 - `dropout` (`dropout.keep_mask`,
    one SFC64 stream seeded with `seed`): the same arguments give the same masks.
    """
    generator = np.random.SFC64(seed)
    batch, heads, length_q, length_k = shape
    for start in range(0, length_q, block):
        yield start, keep_mask(generator, (batch, heads, min(block, length_q - start), length_k), dropout)


class ChunkedDropoutAttention(torch.autograd.Function):
    """softmax(q k^T / sqrt(d_h) + key_bias) with dropout, times v, one block of queries at a time (CPU).

    Saves q, k, v and the output only; backward recomputes each block's probabilities and mask.
    Heads are folded into the batch: every product is one batched matrix product per block.
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
    def _probabilities(q_rows, k, bias):
        """softmax over keys of one block: (B H, c, d_h) scaled queries -> (B H, c, L_k)."""
        k_transposed = k.transpose(1, 2)
        scores = torch.bmm(q_rows, k_transposed) if bias is None else torch.baddbmm(bias, q_rows, k_transposed)
        return scores.softmax(dim=-1)

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, q, k, v, key_bias, dropout, seed, block):  # noqa: D102 (documented on the class)
        # q (B, H, L_q, d_h), k/v (B, H, L_k, d_h), key_bias (B, 1, 1, L_k) additive (0 or -inf) or None
        q_folded, k_folded, v_folded, bias = ChunkedDropoutAttention._operands(q, k, v, key_bias)
        output = q_folded.new_empty(q_folded.shape)  # (B H, L_q, d_h)
        for start, keep in keep_masks(seed, (*q.shape[:3], k.shape[2]), dropout, block):
            rows = slice(start, start + keep.shape[2])
            probabilities = ChunkedDropoutAttention._probabilities(q_folded[:, rows], k_folded, bias)
            torch.bmm(probabilities.mul_(keep.flatten(0, 1)), v_folded, out=output[:, rows])
        output = output.mul_(1.0 / (1.0 - dropout)).view(q.shape)
        ctx.save_for_backward(q, k, v, key_bias, output)
        ctx.dropout, ctx.seed, ctx.block = dropout, seed, block
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
        for start, keep in keep_masks(ctx.seed, (*q.shape[:3], k.shape[2]), ctx.dropout, ctx.block):
            rows = slice(start, start + keep.shape[2])
            probabilities = ChunkedDropoutAttention._probabilities(q_folded[:, rows], k_folded, bias)  # (B H, c, L_k)
            dropped = probabilities * keep.flatten(0, 1)
            grad_v.baddbmm_(dropped.transpose(1, 2), grad_scaled[:, rows])
            # softmax backward with dropout: P * (dP - rowsum(dO * O)), dP = (dO V^T) * keep / (1 - p)
            grad_scores = torch.bmm(grad_scaled[:, rows], v_folded.transpose(1, 2)).mul_(dropped)
            grad_scores.addcmul_(probabilities, row_dot[:, rows], value=-1.0)
            torch.bmm(grad_scores, k_folded, out=grad_q[:, rows])
            grad_k.baddbmm_(grad_scores.transpose(1, 2), q_folded[:, rows])
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
    return ChunkedDropoutAttention.apply(q, k, v, key_bias, dropout, draw_seed(), QUERY_BLOCK)
