"""Model configuration: frozen dataclasses validated on construction.

Defaults follow the paper (Table 2, CH-SIMS column) and, where the paper is silent, the authors'
public code. Choices that differ between the two are options; `KudaConfig.reference` sets all of them
at once and each can be set alone (docs/fidelity.md lists every difference).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kuda_pipeline.data.contract import MODALITIES

TASK_LOSSES = ("mae", "mse")
TEST_RATIOS = ("one", "skip")
FUSIONS = ("daf", "concat", "add", "tfn", "lmf", "cmt")
REFERENCES = ("paper", "authors_code")
ADAPTER_NORMS = ("per_block", "shared")
PADDINGS = ("masked", "all_steps")

# The value of each fidelity option under each reference (docs/fidelity.md). Options where the paper is
# silent are not here: their defaults are the authors' code's under both references.
REFERENCE_CHOICES: dict[str, dict[str, str]] = {
    "paper": {"task_loss": "mae", "test_ratio": "one", "adapter_norm": "per_block", "padding": "masked"},
    "authors_code": {"task_loss": "mse", "test_ratio": "skip", "adapter_norm": "shared", "padding": "all_steps"},
}


def _require_positive(owner: str, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}.{name} must be a positive integer, got {value!r}")


def _require_bool(owner: str, **values: bool) -> None:
    for name, value in values.items():
        if not isinstance(value, bool):
            raise ValueError(f"{owner}.{name} must be true or false, got {value!r}")


def _require_probability(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{owner}.{name} must be in [0, 1), got {value!r}")


@dataclass(frozen=True)
class SequenceEncoderConfig:
    """Vision/audio encoder (eq. 2): post-norm Transformer encoder layers with GELU (as the public code).

    Dropouts (the paper is silent): the public code's `nn.TransformerEncoderLayer(dropout=0.2)`, which
    drops attention probabilities at the same rate (`attention_dropout`). PyTorch has no fused CPU kernel
    for attention dropout; `model.attention` applies it by blocks of queries without keeping the L x L
    maps (docs/performance.md).
    """

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 8
    ffn_size: int = 64
    dropout: float = 0.2
    attention_dropout: float = 0.2

    def __post_init__(self) -> None:
        _require_positive(
            "SequenceEncoderConfig",
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            ffn_size=self.ffn_size,
        )
        _require_probability("SequenceEncoderConfig", dropout=self.dropout, attention_dropout=self.attention_dropout)
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"SequenceEncoderConfig.hidden_size={self.hidden_size} is not divisible by "
                f"num_heads={self.num_heads}"
            )


@dataclass(frozen=True)
class AdapterConfig:
    """Knowledge-injection adapter (eq. 3) of one modality with hidden size d.

    Each block: down-projection d -> d/2, `num_layers` Transformer encoder layers (`num_heads` heads,
    feed-forward d/4), up-projection d/2 -> d, residual. `num_blocks`: for vision/audio, the blocks
    read encoder layers 1..num_blocks (None: every encoder layer); for text, None or the number of
    `KudaConfig.text_injection_layers`. Dropouts (the paper is silent): 0.1, attention probabilities
    included, as the public code's encoder layers.
    """

    num_blocks: int | None = None
    num_heads: int = 4
    num_layers: int = 2
    dropout: float = 0.1
    attention_dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.num_blocks is not None:
            _require_positive("AdapterConfig", num_blocks=self.num_blocks)
        _require_positive("AdapterConfig", num_heads=self.num_heads, num_layers=self.num_layers)
        _require_probability("AdapterConfig", dropout=self.dropout, attention_dropout=self.attention_dropout)

    def check_hidden_size(self, hidden_size: int, modality: str) -> None:
        """Raise ValueError unless the adapter's sizes d/2, d/4, d/8 fit a modality of hidden size d."""
        if hidden_size < 8 or (hidden_size // 2) % self.num_heads:
            raise ValueError(
                f"adapter of modality {modality!r}: down size {hidden_size // 2} (hidden size {hidden_size} / 2) "
                f"must be divisible by num_heads={self.num_heads}, and the hidden size must be >= 8"
            )


@dataclass(frozen=True)
class KudaConfig:
    """The whole KuDA model.

    Sizes of the data (`*_length`, `*_dim`) are read from the data by the caller.

    Fidelity (docs/fidelity.md): `reference` ("paper" or "authors_code") gives every option below that is
    left None its value under that reference (`REFERENCE_CHOICES`); an option set explicitly wins. After
    construction every option holds its resolved value. Paper first:
    - `task_loss`: "mae" (paper, eq. 14) or "mse" (public code).
    - `test_ratio`: "one" (paper: at test time r_m = 1, so eq. 10 reads
      Z = LN(sum_m LN_m(Z_m + 1 * Z_m))) or "skip" (public code: outside training the ratio branch
      is skipped and eq. 10 reads Z = LN(sum_m Z_m), with neither the r_m * Z_m term nor LN_m).
    - `adapter_norm`: "per_block" (paper: identical adapter blocks, each with its LayerNorm, frozen in
      stage 2; eq. 4 concatenates H_m^g as it is) or "shared" (public code: ONE LayerNorm per modality
      used by every adapter block and, for vision/audio, also on H_m^g before eq. 4; trainable in stage 2).
    - `padding`: "masked" (the unimodal decoder's mean of eq. 5 runs over the valid steps and padded
      steps are zeroed before the length projection of eq. 7, so padding changes no output) or
      "all_steps" (public code: both over every step, padding included).
    Where the paper is silent the default is the public code's under both references:
    - `frozen_adapter_dropout`: the frozen adapters keep their dropout on in stage-2 training (public
      code; False puts them in eval mode). Encoder and adapter dropouts: see their configs.
    - `alpha`: CE-loss weight (paper Table 2: 0.01 for CH-SIMS; public code 0.1).

    Ablation switches (defaults = KuDA as in the paper; docs/ablations.md maps Tables 5-7 to them):
    - `use_sentiment_ratio=False` fixes r_m = 1 in training too ("w/o SR").
    - `alpha=0` drops the CE loss ("w/o CE Loss").
    - `modalities`: the modalities present (Table 6); an absent one has no encoder, adapter, decoder,
      projector or fusion parameters.
    - `use_adapters=False` ("w/o Adapter"): no adapter, H_m = H_m^g of size d_m (eq. 4 without H_m^k);
      the decoder (eq. 5) and projector (eq. 7) read d_m features instead of 2 d_m.
    - `inject_intermediate_layers=False` ("w/o EKI"): the adapter keeps its blocks but reads no
      intermediate encoder layer: block 1 reads LN(h^0), block j LN(previous block's output) (eq. 3).
    - `fusion` (Table 7; "add" is also "w/o DAF" of Table 5): every choice reads the same projected
      Ĥ_m (eq. 7) and feeds the same head (eq. 13) and CE loss (eq. 12); only "daf" uses the ratios.
      "daf": dynamic attention fusion (eqs. 7-11); "concat": Linear(M d_f -> d_f) over the
      concatenated Ĥ_m; "add": sum_m Ĥ_m; "tfn": outer product of the length-pooled [Linear(Ĥ_m); 1]
      of size `tfn_dim` + 1 (Zadeh et al., 2017); "lmf": low-rank fusion with `lmf_rank` factors (Liu
      et al., 2018); "cmt": text-centred cross-modal transformer, `fusion_blocks` blocks of
      cross-attention from Ĥ_t to each other Ĥ_m (BBFN, ALMT), so it needs "t" and another modality.
    `fusion_heads * fusion_head_dim` is the attention width inside the fusion (public code 8 * 64);
    `dropout` is the dropout of the cross-modal transformers (public code 0.3; the self-attention and
    feed-forward sub-layers of a block have none, as in the public code), of the "cmt" blocks and of
    the "tfn" product. `layer_norm_eps` is the epsilon of the three LayerNorms of a dynamic attention
    block after the modality weighting (eq. 11 and the block's self-attention and feed-forward
    sub-layers; public code 1e-6); every other LayerNorm keeps PyTorch's 1e-5, as in the public code.
    `trim_padding` (performance only, same results): run each modality's encoder and adapter only up to
    the batch's last valid step (`model.trimming`). Only with `padding="masked"`: under "all_steps"
    padded steps change the result, so nothing is trimmed whatever `trim_padding` says.
    `length_buckets` (performance only, same results; read only where padding is trimmed): within each
    batch, run each modality's encoder, adapter and decoder in at most this many sub-batches of rows of
    similar length, each trimmed to its own longest row (`model.trimming.bucket_plan`); 1: the whole batch
    at its longest row.
    """

    text_length: int
    vision_length: int
    vision_dim: int
    audio_length: int
    audio_dim: int
    text_injection_layers: tuple[int, ...] = (3, 6, 9, 11)
    vision_encoder: SequenceEncoderConfig = field(default_factory=SequenceEncoderConfig)
    audio_encoder: SequenceEncoderConfig = field(default_factory=SequenceEncoderConfig)
    text_adapter: AdapterConfig = field(default_factory=AdapterConfig)
    vision_adapter: AdapterConfig = field(default_factory=lambda: AdapterConfig(num_blocks=3))
    audio_adapter: AdapterConfig = field(default_factory=lambda: AdapterConfig(num_blocks=3))
    fusion_dim: int = 256
    fusion_blocks: int = 3
    fusion_heads: int = 8
    fusion_head_dim: int = 64
    fusion_ffn_size: int = 512
    head_hidden_sizes: tuple[int, ...] = (64, 32)
    dropout: float = 0.3
    k: float = 0.1
    alpha: float = 0.01
    reference: str = "paper"
    task_loss: str | None = None
    test_ratio: str | None = None
    adapter_norm: str | None = None
    padding: str | None = None
    frozen_adapter_dropout: bool = True
    modalities: tuple[str, ...] = MODALITIES
    use_sentiment_ratio: bool = True
    use_adapters: bool = True
    inject_intermediate_layers: bool = True
    fusion: str = "daf"
    tfn_dim: int = 16
    lmf_rank: int = 4
    trim_padding: bool = True
    length_buckets: int = 4
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        self._resolve_reference()
        _require_positive(
            "KudaConfig",
            text_length=self.text_length,
            vision_length=self.vision_length,
            vision_dim=self.vision_dim,
            audio_length=self.audio_length,
            audio_dim=self.audio_dim,
            fusion_dim=self.fusion_dim,
            fusion_blocks=self.fusion_blocks,
            fusion_heads=self.fusion_heads,
            fusion_head_dim=self.fusion_head_dim,
            fusion_ffn_size=self.fusion_ffn_size,
            tfn_dim=self.tfn_dim,
            lmf_rank=self.lmf_rank,
            length_buckets=self.length_buckets,
        )
        _require_probability("KudaConfig", dropout=self.dropout)
        if isinstance(self.layer_norm_eps, bool) or not isinstance(self.layer_norm_eps, (int, float)) or not (
            0 < self.layer_norm_eps < 1
        ):
            raise ValueError(f"KudaConfig.layer_norm_eps must be a number in (0, 1), got {self.layer_norm_eps!r}")
        _require_bool(
            "KudaConfig",
            use_sentiment_ratio=self.use_sentiment_ratio,
            use_adapters=self.use_adapters,
            inject_intermediate_layers=self.inject_intermediate_layers,
            frozen_adapter_dropout=self.frozen_adapter_dropout,
            trim_padding=self.trim_padding,
        )
        self._check_injection_layers()
        for size in self.head_hidden_sizes:
            _require_positive("KudaConfig", head_hidden_sizes=size)
        if self.k < 0 or self.alpha < 0:
            raise ValueError(f"KudaConfig.k and KudaConfig.alpha must be >= 0, got k={self.k}, alpha={self.alpha}")
        for name, choices in (("task_loss", TASK_LOSSES), ("test_ratio", TEST_RATIOS),
                              ("adapter_norm", ADAPTER_NORMS), ("padding", PADDINGS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"KudaConfig.{name} must be one of {choices}, got {getattr(self, name)!r}")
        if not self.modalities or len(set(self.modalities)) != len(self.modalities) or not set(
            self.modalities
        ) <= set(MODALITIES):
            raise ValueError(
                f"KudaConfig.modalities must be a non-empty subset of {MODALITIES} without repeats, "
                f"got {self.modalities!r}"
            )
        self._check_fusion()
        for name in ("vision", "audio"):
            encoder, adapter = getattr(self, f"{name}_encoder"), getattr(self, f"{name}_adapter")
            adapter.check_hidden_size(encoder.hidden_size, name[0])
            if adapter.num_blocks is not None and adapter.num_blocks > encoder.num_layers:
                raise ValueError(
                    f"KudaConfig.{name}_adapter.num_blocks={adapter.num_blocks} exceeds "
                    f"{name}_encoder.num_layers={encoder.num_layers}"
                )
        blocks = self.text_adapter.num_blocks
        if blocks is not None and blocks != len(self.text_injection_layers):
            raise ValueError(
                f"KudaConfig.text_adapter.num_blocks={blocks} differs from the number of "
                f"text_injection_layers {self.text_injection_layers}"
            )

    def _resolve_reference(self) -> None:
        if self.reference not in REFERENCES:
            raise ValueError(f"KudaConfig.reference must be one of {REFERENCES}, got {self.reference!r}")
        for name, value in REFERENCE_CHOICES[self.reference].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    def _check_injection_layers(self) -> None:
        layers = self.text_injection_layers
        if not layers or any(
            not isinstance(layer, int) or isinstance(layer, bool) or layer < 1 for layer in layers
        ) or any(a >= b for a, b in zip(layers, layers[1:])):
            raise ValueError(
                f"KudaConfig.text_injection_layers must be strictly increasing BERT layer indices >= 1, got {layers!r}"
            )

    def _check_fusion(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"KudaConfig.fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.fusion == "cmt" and ("t" not in self.modalities or len(self.modalities) < 2):
            raise ValueError(
                f"KudaConfig.fusion='cmt' is text-centred: it needs 't' and at least one of 'v', 'a' in "
                f"modalities, got modalities={self.modalities!r}"
            )

    def check_text_depth(self, num_hidden_layers: int) -> None:
        """Raise ValueError unless every text injection layer exists in a text encoder of that depth."""
        if self.text_injection_layers[-1] > num_hidden_layers:
            raise ValueError(
                f"KudaConfig.text_injection_layers={self.text_injection_layers} reach beyond the text encoder: "
                f"the checkpoint has {num_hidden_layers} hidden layers, so each layer must be in 1..{num_hidden_layers}"
            )

    def injection_layers(self, modality: str) -> tuple[int, ...]:
        """Indices of the hidden states (0 = embeddings) that the adapter blocks of `modality` read."""
        if modality == "t":
            return self.text_injection_layers
        encoder, adapter = self.sequence_encoder(modality), self.adapter(modality)
        return tuple(range(1, (adapter.num_blocks or encoder.num_layers) + 1))

    def sequence_encoder(self, modality: str) -> SequenceEncoderConfig:
        """Encoder config of the vision ("v") or audio ("a") modality."""
        return {"v": self.vision_encoder, "a": self.audio_encoder}[modality]

    def adapter(self, modality: str) -> AdapterConfig:
        """Adapter config of `modality`."""
        return {"t": self.text_adapter, "v": self.vision_adapter, "a": self.audio_adapter}[modality]

    def sequence_shape(self, modality: str) -> tuple[int, int]:
        """(length, feature size) of the vision ("v") or audio ("a") input."""
        return {"v": (self.vision_length, self.vision_dim), "a": (self.audio_length, self.audio_dim)}[modality]

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> KudaConfig:
        """Build from plain values as they come from YAML: nested dicts for nested configs, lists for tuples."""
        return _from_mapping(cls, mapping, "KudaConfig")


_NESTED = {
    "vision_encoder": SequenceEncoderConfig,
    "audio_encoder": SequenceEncoderConfig,
    "text_adapter": AdapterConfig,
    "vision_adapter": AdapterConfig,
    "audio_adapter": AdapterConfig,
}


def _from_mapping(cls: type, mapping: Mapping[str, Any], path: str) -> Any:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{path} must be a mapping, got {type(mapping).__name__}: {mapping!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {path}; allowed: {sorted(known)}")
    values = {}
    for name, value in mapping.items():
        if name in _NESTED and cls is KudaConfig:
            value = _from_mapping(_NESTED[name], value, f"{path}.{name}")
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)
