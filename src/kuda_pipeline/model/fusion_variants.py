"""The other fusions of Table 7 behind `FusionModule`, and `build_fusion`, the factory for `KudaConfig.fusion`.

All read the same projected Ĥ_m (eq. 7), so they differ from dynamic attention fusion only in how
they fuse; none uses the sentiment ratios. "tfn" and "lmf" fuse length-pooled vectors and give a
fused representation of length 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.dropout import Dropout
from kuda_pipeline.model.fusion import (
    CrossAttentionBlock,
    DynamicAttentionFusion,
    Fused,
    FusionModule,
    Tensors,
    fusion_attention,
    stack_attention,
)


def _with_one(x: torch.Tensor) -> torch.Tensor:
    """(B, d) -> (B, d + 1): [x; 1], the constant that keeps the unimodal and bimodal terms in a tensor product."""
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=-1)


class ConcatFusion(FusionModule):
    """Concatenation: Linear(M d_f -> d_f) over [Ĥ_m for each modality m] at each of the L_f steps."""

    def __init__(self, config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(config, input_shapes)
        self.linear = nn.Linear(len(input_shapes) * config.fusion_dim, config.fusion_dim)

    def fuse(self, projected: Tensors, ratios: Tensors | None, return_attention: bool) -> Fused:
        concatenated = torch.cat(list(projected.values()), dim=-1)  # (B, L_f, M d_f)
        return self.linear(concatenated), None


class AdditionFusion(FusionModule):
    """Addition, also "w/o DAF" of Table 5: sum_m Ĥ_m (X_0 of eq. 7) straight into the output head."""

    def fuse(self, projected: Tensors, ratios: Tensors | None, return_attention: bool) -> Fused:
        return sum(projected.values()), None


class TensorFusion(FusionModule):
    """TFN (Zadeh et al., 2017): z_m = [Linear(mean over length of Ĥ_m); 1] of size `tfn_dim` + 1,
    the outer product z_t ⊗ z_v ⊗ z_a flattened to (tfn_dim + 1)^M, dropout, Linear to d_f."""

    def __init__(self, config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(config, input_shapes)
        self.reducers = nn.ModuleDict({m: nn.Linear(config.fusion_dim, config.tfn_dim) for m in input_shapes})
        self.dropout = Dropout(config.dropout)
        self.output = nn.Linear((config.tfn_dim + 1) ** len(input_shapes), config.fusion_dim)

    def fuse(self, projected: Tensors, ratios: Tensors | None, return_attention: bool) -> Fused:
        product = None
        for m, h in projected.items():
            z = _with_one(self.reducers[m](h.mean(dim=1)))  # (B, L_f, d_f) -> (B, tfn_dim + 1)
            # (B, P, 1) * (B, 1, tfn_dim + 1) -> (B, P * (tfn_dim + 1))
            product = z if product is None else (product[:, :, None] * z[:, None, :]).flatten(1)
        return self.output(self.dropout(product))[:, None], None  # (B, d_f) -> (B, 1, d_f)


class LowRankFusion(FusionModule):
    """LMF (Liu et al., 2018): h = sum_r w_r prod_m ([mean over length of Ĥ_m; 1] W_m^(r)) + b, with
    `lmf_rank` factors W_m^(r) of (d_f + 1, d_f) per modality: a TFN whose weight tensor has that rank."""

    def __init__(self, config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(config, input_shapes)
        dim, rank = config.fusion_dim, config.lmf_rank
        self.factors = nn.ParameterDict({m: nn.Parameter(torch.empty(rank, dim + 1, dim)) for m in input_shapes})
        self.rank_weights = nn.Parameter(torch.empty(1, rank))
        self.bias = nn.Parameter(torch.zeros(dim))
        for factor in self.factors.values():
            nn.init.xavier_normal_(factor)
        nn.init.xavier_normal_(self.rank_weights)

    def fuse(self, projected: Tensors, ratios: Tensors | None, return_attention: bool) -> Fused:
        product = None
        for m, h in projected.items():
            z = _with_one(h.mean(dim=1))  # (B, L_f, d_f) -> (B, d_f + 1)
            factor = torch.einsum("bi,rio->rbo", z, self.factors[m])  # (rank, B, d_f)
            product = factor if product is None else product * factor
        fused = torch.einsum("r,rbo->bo", self.rank_weights[0], product) + self.bias  # (B, d_f)
        return fused[:, None], None  # (B, 1, d_f)


class TextCentredBlock(CrossAttentionBlock):
    """X' = LN(X + sum_m CrossAttn_m(X, Ĥ_m)) over the non-text modalities; X'' = LN(X' + FFN(X'))."""

    def __init__(self, config: KudaConfig, sources: tuple[str, ...]) -> None:
        super().__init__(config, nn.ModuleDict({m: fusion_attention(config) for m in sources}))

    def forward(self, x: torch.Tensor, sources: Tensors, return_attention: bool) -> Fused:
        """X (B, L_f, d_f), Ĥ_m (B, L_f, d_f) -> X'' (B, L_f, d_f) and maps m -> (B, L_f, L_f) when asked for."""
        attended, maps = [], {}
        for m, source in sources.items():
            out, maps[m] = self.attention[m](x, source, return_weights=return_attention)
            attended.append(out)
        x = self.attention_norm(x + self.attention_dropout(sum(attended)))
        return self.feed_forward_norm(x + self.feed_forward(x)), maps if return_attention else None


class TextCentredFusion(FusionModule):
    """CMT (BBFN, ALMT): X_0 = Ĥ_t, then `fusion_blocks` text-centred blocks whose queries come from the
    text side and whose keys/values are each non-text Ĥ_m; text is the fixed dominant modality."""

    def __init__(self, config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(config, input_shapes)
        sources = tuple(m for m in input_shapes if m != "t")
        self.blocks = nn.ModuleList(TextCentredBlock(config, sources) for _ in range(config.fusion_blocks))

    def fuse(self, projected: Tensors, ratios: Tensors | None, return_attention: bool) -> Fused:
        sources = {m: h for m, h in projected.items() if m != "t"}
        x = projected["t"]  # X_0 (B, L_f, d_f)
        maps = []
        for block in self.blocks:
            x, attention = block(x, sources, return_attention)
            maps.append(attention)
        return x, stack_attention(maps)


FUSION_MODULES: dict[str, type[FusionModule]] = {
    "daf": DynamicAttentionFusion,
    "concat": ConcatFusion,
    "add": AdditionFusion,
    "tfn": TensorFusion,
    "lmf": LowRankFusion,
    "cmt": TextCentredFusion,
}


def build_fusion(config: KudaConfig, input_shapes: Mapping[str, tuple[int, int]]) -> FusionModule:
    """The fusion named by `config.fusion` (validated by `KudaConfig`) over H_m of `input_shapes`
    (modality -> (L_m, feature size))."""
    return FUSION_MODULES[config.fusion](config, input_shapes)
