"""Per-modality knowledge encoder (eqs. 1-5): encoder + knowledge-injection adapter + unimodal decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel

from kuda_pipeline.data.contract import MODALITIES
from kuda_pipeline.model.adapter import KnowledgeAdapter
from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.heads import UnimodalDecoder
from kuda_pipeline.model.sequence_encoder import SequenceEncoder
from kuda_pipeline.model.text_encoder import TextEncoder
from kuda_pipeline.model.trimming import run_in_buckets, trim_padding


@dataclass
class UnimodalOutput:
    """One modality's representation H_m = [H_m^g; H_m^k] (H_m^g alone without adapters) and unimodal prediction."""

    representation: torch.Tensor  # (B, L', 2 d_m), or (B, L', d_m) without adapters; L' <= L_m when trimmed;
    # its padded steps hold no meaning (zeros, or values the masked fusion ignores)
    prediction: torch.Tensor  # (B,)
    valid: torch.Tensor  # (B, L') bool, True = valid step


def modality_input(
    modality: str,
    text: torch.Tensor | None,
    vision: torch.Tensor | None,
    vision_mask: torch.Tensor | None,
    audio: torch.Tensor | None,
    audio_mask: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of `modality` and its (B, L_m) valid mask (text: row 1 of `text`, the BERT attention mask)."""
    if modality == "t":
        return text, text[:, 1] != 0  # (B, 3, L_t), (B, L_t)
    if modality == "v":
        return vision, vision_mask
    if modality == "a":
        return audio, audio_mask
    raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")


class KnowledgeEncoder(nn.Module):
    """Encoder (BERT for "t", `SequenceEncoder` for "v"/"a"), adapter and decoder of one modality.

    H_m^g is the encoder's last hidden state, H_m^k the adapter's output (eq. 4); the decoder reads the
    mean of H_m over the valid steps (eq. 5; over every step with `config.padding="all_steps"`). For
    text, d_t is the BERT hidden size. With `config.use_adapters=False` there is no adapter (`adapter`
    is None) and H_m = H_m^g. With `config.adapter_norm="shared"` the adapter's one LayerNorm also
    normalises H_m^g of vision and audio before eq. 4 (the public code). With `config.trim_padding` and
    `config.padding="masked"`, each batch is cut after its last valid step first (`trimming`), so H_m and
    the mask it returns may be shorter than L_m; with `config.length_buckets` > 1 too, the batch's rows run
    in up to that many sub-batches of similar length, each cut after its own longest row (same outputs).
    There a BERT text encoder runs once on the batch's packed tokens (`TextEncoder.packed_hidden_states`),
    and only its adapter and decoder run by sub-batches.
    """

    def __init__(self, config: KudaConfig, modality: str, text_encoder: PreTrainedModel | None = None) -> None:
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
        self.modality = modality
        self.trim_padding = config.trim_padding and config.padding == "masked"  # exact only when masked
        self.length_buckets = config.length_buckets if self.trim_padding else 1
        if modality == "t":
            if text_encoder is None:
                raise ValueError("modality 't' needs a text encoder, got text_encoder=None")
            config.check_text_depth(text_encoder.config.num_hidden_layers)
            self.encoder = TextEncoder(text_encoder)
            config.text_adapter.check_hidden_size(self.encoder.hidden_size, modality)
        else:
            length, input_size = config.sequence_shape(modality)
            self.encoder = SequenceEncoder(input_size, length, config.sequence_encoder(modality))
        hidden_size = self.encoder.hidden_size
        self.adapter = None
        if config.use_adapters:
            self.adapter = KnowledgeAdapter(
                hidden_size,
                config.injection_layers(modality),
                config.adapter(modality),
                inject=config.inject_intermediate_layers,
                shared_norm=config.adapter_norm == "shared",
            )
        self.normalise_global = self.adapter is not None and self.adapter.norm is not None and modality != "t"
        self.decoder = UnimodalDecoder(hidden_size, self.representation_size, masked=config.padding == "masked")

    @property
    def hidden_size(self) -> int:
        return self.encoder.hidden_size

    @property
    def representation_size(self) -> int:
        """Width of H_m: 2 d_m with an adapter, d_m without."""
        return self.hidden_size * (1 if self.adapter is None else 2)

    def forward(
        self,
        text: torch.Tensor | None,
        vision: torch.Tensor | None,
        vision_mask: torch.Tensor | None,
        audio: torch.Tensor | None,
        audio_mask: torch.Tensor | None,
    ) -> UnimodalOutput:
        """The inputs as `KuDA.forward` takes them; only this modality's are read (the others may be None)."""
        inputs, valid = modality_input(self.modality, text, vision, vision_mask, audio, audio_mask)
        if not self.trim_padding:
            return UnimodalOutput(*self.encode(inputs, valid), valid)
        if self.modality == "t" and self.encoder.packable:  # BERT once on packed tokens, the rest by sub-batches
            inputs, valid = trim_padding(inputs, valid, length_dim=2)
            hidden_states = self.encoder.packed_hidden_states(inputs, valid)
            read = self.states_read(len(hidden_states))  # the others are not copied into every sub-batch
            hidden_states = tuple(h if i in read else None for i, h in enumerate(hidden_states))
            return UnimodalOutput(*run_in_buckets(self.read, hidden_states, valid, 1, self.length_buckets))
        length_dim = 2 if self.modality == "t" else 1
        return UnimodalOutput(*run_in_buckets(self.encode, inputs, valid, length_dim, self.length_buckets))

    def encode(self, inputs: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. 1-5 on this modality's (B, L, ...) inputs and (B, L) mask: H_m (B, L, 2 d_m or d_m), prediction (B,)."""
        return self.read(self.encoder(inputs, valid), valid)

    def states_read(self, count: int) -> set[int]:
        """Which of the `count` hidden states h^0 .. h^N `read` uses: the last, and those the adapter reads."""
        return {count - 1} | (set() if self.adapter is None else self.adapter.states_read)

    def read(
        self, hidden_states: tuple[torch.Tensor | None, ...], valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eqs. 3-5 on the encoder's hidden states h^0 .. h^N (each (B, L, d_m); None where `states_read` has no
        use for it): H_m and the prediction (B,)."""
        if self.adapter is None:
            representation = hidden_states[-1]  # (B, L, d_m)
        else:
            knowledge = self.adapter(hidden_states, valid)
            global_ = self.adapter.norm(hidden_states[-1]) if self.normalise_global else hidden_states[-1]
            representation = torch.cat([global_, knowledge], dim=-1)  # (B, L, 2 d_m)
        return representation, self.decoder(representation, valid)


class UnimodalKnowledgeModel(KnowledgeEncoder):
    """Stage-1 model (knowledge-injection pretraining): one modality's `KnowledgeEncoder` trained alone.

    Its state dict has exactly the keys of `KuDA.knowledge[modality]`, so `KuDA.load_knowledge` takes it.
    """
