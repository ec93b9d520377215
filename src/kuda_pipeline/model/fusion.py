"""The fusion interface and dynamic attention fusion (eqs. 7-11): projectors, dynamic attention blocks.

Every fusion (`FusionModule`) loops over the modalities present. Each Ĥ_m is already mapped to the
fusion length L_f by a learned linear map over the length axis (padded steps zeroed before it unless
`padding="all_steps"`), so nothing inside a fusion has padding to mask. The other fusions of Table 7 are in `fusion_variants`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.dropout import Dropout
from kuda_pipeline.model.knowledge import UnimodalOutput
from kuda_pipeline.model.layers import FeedForward, MultiHeadAttention
from kuda_pipeline.model.trimming import pad_to_length

Tensors = Mapping[str, torch.Tensor]  # modality -> tensor
Fused = tuple[torch.Tensor, dict[str, torch.Tensor] | None]  # fused representation, attention maps or None


@dataclass
class FusionOutput:
    """The fused representation (X_N for "daf"), the projected Ĥ_m, and (when asked for) cross-attention maps."""

    fused: torch.Tensor  # (B, L_f, d_f), or (B, 1, d_f) for the fusions of pooled vectors ("tfn", "lmf")
    projected: dict[str, torch.Tensor]  # modality -> (B, L_f, d_f)
    attention: dict[str, torch.Tensor] | None  # modality -> (B, N blocks, L_f, L_f), heads averaged; None if none


class ModalityProjector(nn.Module):
    """eq. 7: Ĥ_m = LinearOverLength(LinearOverFeatures(H_m)), (B, L_m, 2 d_m or d_m) -> (B, L_f, d_f).

    `masked`: padded steps are zeroed before the length projection; otherwise they enter it (public code).
    H_m may be trimmed to L' <= L_m steps (`trimming`, masked mode only): the cut steps come back as zeros.
    """

    def __init__(
        self, input_size: int, input_length: int, fusion_dim: int, fusion_length: int, masked: bool = True
    ) -> None:
        super().__init__()
        self.masked = masked
        self.features = nn.Linear(input_size, fusion_dim)
        self.length = nn.Linear(input_length, fusion_length)

    def forward(self, representation: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = self.features(representation)  # (B, L', d_f); L' <= L_m when trimmed
        if self.masked:
            x = x.masked_fill(~valid[..., None], 0.0)  # padding zeroed
        x = pad_to_length(x, self.length.in_features)  # (B, L_m, d_f): trimmed steps back as zeros
        return self.length(x.transpose(1, 2)).transpose(1, 2)  # (B, d_f, L_m) -> (B, d_f, L_f) -> (B, L_f, d_f)


def fusion_attention(config: KudaConfig) -> MultiHeadAttention:
    """Attention of width `fusion_heads * fusion_head_dim` over d_f features, without q/k/v bias (public code)."""
    return MultiHeadAttention(config.fusion_dim, config.fusion_heads, config.fusion_head_dim, qkv_bias=False)


def fusion_feed_forward(config: KudaConfig, dropout: float) -> nn.Sequential:
    """LayerNorm then feed-forward (the public code normalises inside its feed-forward sub-layer)."""
    return nn.Sequential(nn.LayerNorm(config.fusion_dim), FeedForward(config.fusion_dim, config.fusion_ffn_size, dropout))


class CrossAttentionBlock(nn.Module):
    """The layers of a cross-attention block: `attention`, then dropout and LayerNorm after the residual
    sum, then a feed-forward sub-layer with its LayerNorm (`dropout` in both)."""

    def __init__(self, config: KudaConfig, attention: nn.Module) -> None:
        super().__init__()
        self.attention = attention
        self.attention_dropout = Dropout(config.dropout)
        self.attention_norm = nn.LayerNorm(config.fusion_dim)
        self.feed_forward = fusion_feed_forward(config, config.dropout)
        self.feed_forward_norm = nn.LayerNorm(config.fusion_dim)


class CrossModalTransformer(CrossAttentionBlock):
    """eq. 9: Z_m = LN(X + CrossAttn(X, Ĥ_m)); Z_m = LN(Z_m + FFN(Z_m))."""

    def __init__(self, config: KudaConfig) -> None:
        super().__init__(config, fusion_attention(config))

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
        self.fusion_norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.self_attention = fusion_attention(config)
        self.self_attention_norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.feed_forward = fusion_feed_forward(config, 0.0)
        self.feed_forward_norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        sources: Tensors,
        ratios: Tensors | None,
        return_attention: bool = False,
    ) -> Fused:
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


def stack_attention(per_block: Sequence[Mapping[str, torch.Tensor] | None]) -> dict[str, torch.Tensor] | None:
    """Per-block maps m -> (B, L_f, L_k) -> m -> (B, N blocks, L_f, L_k); None when the blocks gave none."""
    if not per_block or per_block[0] is None:
        return None
    return {m: torch.stack([maps[m] for maps in per_block], dim=1) for m in per_block[0]}  # (B, N, L_f, L_k)


class FusionModule(nn.Module, ABC):
    """One interface for every fusion of Table 7: the projectors of eq. 7, then `fuse`.

    `uses_ratios` says whether `fuse` reads the sentiment ratios (only dynamic attention fusion does);
    every fusion takes them so that all are called alike.
    """

    uses_ratios = False

    def __init__(self, config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> None:
        """`input_shapes`: modality -> (length L_m, feature size) of H_m; L_f is the text length."""
        super().__init__()
        self.projectors = nn.ModuleDict(
            {
                m: ModalityProjector(size, length, config.fusion_dim, config.text_length, config.padding == "masked")
                for m, (length, size) in input_shapes.items()
            }
        )

    def forward(
        self,
        unimodal: Mapping[str, UnimodalOutput],
        ratios: Mapping[str, torch.Tensor] | None,
        return_attention: bool = False,
    ) -> FusionOutput:
        projected = {m: self.projectors[m](out.representation, out.valid) for m, out in unimodal.items()}
        fused, attention = self.fuse(projected, ratios, return_attention)
        return FusionOutput(fused, projected, attention)

    @abstractmethod
    def fuse(self, projected: Tensors, ratios: Tensors | None, return_attention: bool) -> Fused:
        """Ĥ_m (B, L_f, d_f) per modality, r_m (B,) -> fused (B, L_f, d_f) or (B, 1, d_f), attention maps or None."""


class DynamicAttentionFusion(FusionModule):
    """eqs. 7-8: project every modality to (L_f, d_f), X_0 = sum_m Ĥ_m, then N dynamic attention blocks."""

    uses_ratios = True

    def __init__(self, config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(config, input_shapes)
        self.blocks = nn.ModuleList(
            DynamicAttentionBlock(config, tuple(input_shapes)) for _ in range(config.fusion_blocks)
        )

    def fuse(self, projected: Tensors, ratios: Tensors | None, return_attention: bool) -> Fused:
        x = sum(projected.values())  # X_0 (B, L_f, d_f)
        maps = []
        for block in self.blocks:
            x, attention = block(x, projected, ratios, return_attention)
            maps.append(attention)
        return x, stack_attention(maps)
