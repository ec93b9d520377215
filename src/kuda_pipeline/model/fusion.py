"""Dynamic attention fusion (eqs. 7-11): projectors, dynamic attention blocks, the fusion stack.

The fusion loops over the modalities present. Each Ĥ_m is already mapped to the fusion length L_f
by a learned linear map over the length axis (padded steps zeroed before it), so the attention
inside the fusion has no padding to mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.knowledge import UnimodalOutput
from kuda_pipeline.model.layers import FeedForward, MultiHeadAttention


@dataclass
class FusionOutput:
    """X_N, the projected unimodal representations Ĥ_m, and (when asked for) cross-attention maps."""

    fused: torch.Tensor  # (B, L_f, d_f)
    projected: dict[str, torch.Tensor]  # modality -> (B, L_f, d_f)
    attention: dict[str, torch.Tensor] | None  # modality -> (B, N blocks, L_f, L_f), heads averaged


class ModalityProjector(nn.Module):
    """eq. 7: Ĥ_m = LinearOverLength(LinearOverFeatures(H_m)), (B, L_m, 2 d_m) -> (B, L_f, d_f)."""

    def __init__(self, input_size: int, input_length: int, fusion_dim: int, fusion_length: int) -> None:
        super().__init__()
        self.features = nn.Linear(input_size, fusion_dim)
        self.length = nn.Linear(input_length, fusion_length)

    def forward(self, representation: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = self.features(representation).masked_fill(~valid[..., None], 0.0)  # (B, L_m, d_f), padding zeroed
        return self.length(x.transpose(1, 2)).transpose(1, 2)  # (B, d_f, L_m) -> (B, d_f, L_f) -> (B, L_f, d_f)


def _fusion_attention(config: KudaConfig) -> MultiHeadAttention:
    return MultiHeadAttention(config.fusion_dim, config.fusion_heads, config.fusion_head_dim, qkv_bias=False)


def _fusion_feed_forward(config: KudaConfig, dropout: float) -> nn.Sequential:
    """LayerNorm then feed-forward (the public code normalises inside its feed-forward sub-layer)."""
    return nn.Sequential(nn.LayerNorm(config.fusion_dim), FeedForward(config.fusion_dim, config.fusion_ffn_size, dropout))


class CrossModalTransformer(nn.Module):
    """eq. 9: Z_m = LN(X + CrossAttn(X, Ĥ_m)); Z_m = LN(Z_m + FFN(Z_m))."""

    def __init__(self, config: KudaConfig) -> None:
        super().__init__()
        self.attention = _fusion_attention(config)
        self.attention_dropout = nn.Dropout(config.dropout)
        self.attention_norm = nn.LayerNorm(config.fusion_dim)
        self.feed_forward = _fusion_feed_forward(config, config.dropout)
        self.feed_forward_norm = nn.LayerNorm(config.fusion_dim)

    def forward(
        self, x: torch.Tensor, source: torch.Tensor, return_attention: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.attention(x, source, return_weights=return_attention)
        z = self.attention_norm(x + self.attention_dropout(attended))
        return self.feed_forward_norm(z + self.feed_forward(z)), weights


class DynamicAttentionBlock(nn.Module):
    """eqs. 9-11 for the modalities present.

    With ratios r_m (B,): Z = LN(sum_m LN_m(Z_m + r_m * Z_m)) (eq. 10). With `ratios=None` (the public
    code outside training, `test_ratio="skip"`): Z = LN(sum_m Z_m). Then X' = LN(X + Z), and a
    self-attention and a feed-forward sub-layer, each residual with LayerNorm, give the block's output.
    """

    def __init__(self, config: KudaConfig, modalities: Sequence[str]) -> None:
        super().__init__()
        dim = config.fusion_dim
        self.cross = nn.ModuleDict({m: CrossModalTransformer(config) for m in modalities})
        self.modality_norms = nn.ModuleDict({m: nn.LayerNorm(dim) for m in modalities})
        self.weighting_norm = nn.LayerNorm(dim)
        self.fusion_norm = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = _fusion_attention(config)
        self.self_attention_norm = nn.LayerNorm(dim, eps=1e-6)
        self.feed_forward = _fusion_feed_forward(config, 0.0)
        self.feed_forward_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(
        self,
        x: torch.Tensor,
        sources: Mapping[str, torch.Tensor],
        ratios: Mapping[str, torch.Tensor] | None,
        return_attention: bool = False,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """X (B, L_f, d_f), Ĥ_m (B, L_f, d_f), r_m (B,) -> X_next (B, L_f, d_f) and maps m -> (B, L_f, L_f)."""
        weighted, attention = [], {}
        for m, source in sources.items():
            z, attention[m] = self.cross[m](x, source, return_attention)
            if ratios is not None:
                z = self.modality_norms[m](z + ratios[m][:, None, None] * z)  # r_m (B,) -> (B, 1, 1)
            weighted.append(z)
        x = self.fusion_norm(x + self.weighting_norm(sum(weighted)))
        x = self.self_attention_norm(x + self.self_attention(x, x)[0])
        return self.feed_forward_norm(x + self.feed_forward(x)), attention if return_attention else None


class DynamicAttentionFusion(nn.Module):
    """eqs. 7-8: project every modality to (L_f, d_f), X_0 = sum_m Ĥ_m, then N dynamic attention blocks."""

    def __init__(self, config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> None:
        """`input_shapes`: modality -> (length L_m, feature size 2 d_m) of H_m; L_f is the text length."""
        super().__init__()
        self.projectors = nn.ModuleDict(
            {
                m: ModalityProjector(size, length, config.fusion_dim, config.text_length)
                for m, (length, size) in input_shapes.items()
            }
        )
        self.blocks = nn.ModuleList(
            DynamicAttentionBlock(config, tuple(input_shapes)) for _ in range(config.fusion_blocks)
        )

    def forward(
        self,
        unimodal: Mapping[str, UnimodalOutput],
        ratios: Mapping[str, torch.Tensor] | None,
        return_attention: bool = False,
    ) -> FusionOutput:
        projected = {m: self.projectors[m](out.representation, out.valid) for m, out in unimodal.items()}
        x = sum(projected.values())  # X_0 (B, L_f, d_f)
        maps: dict[str, list[torch.Tensor]] = {m: [] for m in projected}
        for block in self.blocks:
            x, attention = block(x, projected, ratios, return_attention)
            for m, weights in (attention or {}).items():
                maps[m].append(weights)
        stacked = {m: torch.stack(w, dim=1) for m, w in maps.items()} if return_attention else None  # (B, N, L_f, L_f)
        return FusionOutput(x, projected, stacked)
