"""Scaled dot-product attention with attention-probability dropout that keeps no (L_q x L_k) map alive on CPU.

`F.scaled_dot_product_attention` with `dropout_p > 0` has no fused CPU kernel: it falls back to the math
path, which materialises and keeps for backward the scores, probabilities, dropout mask and dropped
probabilities of every layer. `attend` dispatches instead:

- no dropout (or evaluation), or a CUDA tensor: `F.scaled_dot_product_attention` (the fused CUDA
  kernels support dropout);
- dropout on CPU: `ChunkedDropoutAttention`, the same math over blocks of queries. Forward keeps only
  q, k, v, the output and the per-row log-sum-exp; backward recomputes each block's probabilities and
  regenerates its dropout mask from a seed drawn from torch's default generator (so runs stay
  reproducible from `torch.manual_seed`).

The dropout is `nn.Dropout`'s: each probability is kept with probability 1 - p and scaled by 1 / (1 - p).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

QUERY_BLOCK = 64  # queries per block; benchmarks/attention_dropout.py measured 32-128 alike


def keep_masks(seed: int, shape: tuple[int, ...], dropout: float, block: int, device: torch.device):
    """Yield the keep masks (B, H, c, L_k) float (1 = keep, 0 = drop) of consecutive blocks of c <= `block` queries.

    `shape` is (B, H, L_q, L_k). Drawn from a generator seeded with `seed`: the same arguments give the
    same masks (backward regenerates them so). Each element is kept with probability 1 - `dropout`.
    """
    generator = torch.Generator(device=device).manual_seed(seed)
    batch, heads, length_q, length_k = shape
    for start in range(0, length_q, block):
        rows = min(block, length_q - start)
        uniform = torch.empty((batch, heads, rows, length_k), device=device).uniform_(generator=generator)
        yield start, uniform.ge_(dropout)  # in place: float 0/1, no bool -> float conversion later


def _block_probabilities(q_rows, k_transposed, key_bias, scale):
    """softmax(q k^T * scale + key_bias) of one block of queries: (B, H, c, d_h) -> (B, H, c, L_k)."""
    scores = q_rows @ k_transposed
    scores = scores.mul_(scale) if key_bias is None else scores.mul_(scale).add_(key_bias)
    return scores.softmax(dim=-1)


class ChunkedDropoutAttention(torch.autograd.Function):
    """softmax(q k^T / sqrt(d_h) + key_bias) with dropout, times v, one block of queries at a time.

    Saves q, k, v and the output only; backward recomputes each block's probabilities and mask.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx, q, k, v, key_bias, dropout, seed, block):  # noqa: D102 (documented on the class)
        # q (B, H, L_q, d_h), k/v (B, H, L_k, d_h), key_bias (B, 1, 1, L_k) additive (0 or -inf) or None
        scale = q.shape[-1] ** -0.5
        k_transposed = k.transpose(-2, -1)
        output = torch.empty_like(q)  # (B, H, L_q, d_h)
        for start, keep in keep_masks(seed, (*q.shape[:3], k.shape[2]), dropout, block, q.device):
            rows = slice(start, start + keep.shape[2])
            probabilities = _block_probabilities(q[:, :, rows], k_transposed, key_bias, scale)
            output[:, :, rows] = probabilities.mul_(keep) @ v
        output.mul_(1.0 / (1.0 - dropout))
        ctx.save_for_backward(q, k, v, key_bias, output)
        ctx.dropout, ctx.seed, ctx.block = dropout, seed, block
        return output

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_output):  # noqa: D102
        q, k, v, key_bias, output = ctx.saved_tensors
        scale = q.shape[-1] ** -0.5
        k_transposed, v_transposed = k.transpose(-2, -1), v.transpose(-2, -1)
        row_dot = (grad_output * output).sum(dim=-1, keepdim=True)  # (B, H, L_q, 1): rowsum(dO * O)
        grad_scaled = grad_output * (1.0 / (1.0 - ctx.dropout))  # the 1 / (1 - p) of every kept probability
        grad_q = torch.empty_like(q)
        grad_k = torch.zeros_like(k)
        grad_v = torch.zeros_like(v)
        for start, keep in keep_masks(ctx.seed, (*q.shape[:3], k.shape[2]), ctx.dropout, ctx.block, q.device):
            rows = slice(start, start + keep.shape[2])
            probabilities = _block_probabilities(q[:, :, rows], k_transposed, key_bias, scale)  # (B, H, c, L_k)
            grad_v += (probabilities * keep).transpose(-2, -1) @ grad_scaled[:, :, rows]
            grad_probabilities = (grad_scaled[:, :, rows] @ v_transposed).mul_(keep)  # (B, H, c, L_k)
            grad_scores = grad_probabilities.sub_(row_dot[:, :, rows]).mul_(probabilities).mul_(scale)
            grad_q[:, :, rows] = grad_scores @ k
            grad_k += grad_scores.transpose(-2, -1) @ q[:, :, rows]
        return grad_q, grad_k, grad_v, None, None, None, None


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
    seed = int(torch.randint(2**62, (), dtype=torch.int64))  # from the default generator: reproducible
    return ChunkedDropoutAttention.apply(q, k, v, key_bias, dropout, seed, QUERY_BLOCK)
