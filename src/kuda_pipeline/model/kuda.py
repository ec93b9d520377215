"""The KuDA model: knowledge encoders, fusion (dynamic attention by default), output head, CE loss (eqs. 1-13)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel

from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.fusion_variants import build_fusion
from kuda_pipeline.model.heads import RegressionMLP
from kuda_pipeline.model.knowledge import KnowledgeEncoder
from kuda_pipeline.model.losses import correlation_estimation_loss, sentiment_ratios

logger = logging.getLogger(__name__)


@dataclass
class KudaOutput:
    """Everything a forward pass gives; representations pooled over length (useful for t-SNE)."""

    prediction: torch.Tensor  # (B,)
    unimodal_predictions: dict[str, torch.Tensor]  # modality -> (B,)
    ratios: dict[str, torch.Tensor] | None  # modality -> r_m (B,) used in eq. 10; None when skipped or unused
    ce_loss: torch.Tensor  # scalar, eq. 12 summed over modalities
    fused: torch.Tensor  # (B, d_f), mean over length of the fused representation (X_N for "daf")
    projected: dict[str, torch.Tensor]  # modality -> (B, d_f), mean over length of Ĥ_m
    attention: dict[str, torch.Tensor] | None  # modality -> (B, N blocks, L_f, L_f) when asked for ("daf", "cmt")


Shape = tuple[int, ...]


@dataclass
class LoadReport:
    """What `KuDA.load_knowledge` took: tensors loaded as "<modality>.<key>"; layers skipped whole as
    "<modality>.<layer>", each with every tensor of the layer and its (checkpoint shape, model shape)."""

    loaded: list[str]
    skipped: dict[str, dict[str, tuple[Shape, Shape]]]  # layer -> tensor name -> (checkpoint shape, model shape)


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return f"{len(keys)} [{shown}{', ...' if len(keys) > limit else ''}]"


class KuDA(nn.Module):
    """Knowledge encoders per modality (`knowledge`), the fusion of `config.fusion` (`fusion`), output MLP (`head`).

    Sentiment ratios (eq. 6) come from the unimodal predictions and `label` in training mode (not
    detached, as in the public code); outside training they follow `config.test_ratio`. A fusion that
    does not read them (all but "daf") gets None.
    """

    def __init__(self, config: KudaConfig, text_encoder: PreTrainedModel | None = None) -> None:
        super().__init__()
        self.config = config
        self.knowledge_frozen = False
        self.knowledge = nn.ModuleDict(
            {m: KnowledgeEncoder(config, m, text_encoder if m == "t" else None) for m in config.modalities}
        )
        lengths = {"t": config.text_length, "v": config.vision_length, "a": config.audio_length}
        shapes = {m: (lengths[m], encoder.representation_size) for m, encoder in self.knowledge.items()}
        self.fusion = build_fusion(config, shapes)
        self.head = RegressionMLP(config.fusion_dim, config.head_hidden_sizes)

    def forward(
        self,
        text: torch.Tensor | None,  # (B, 3, L_t) int64: token ids, attention mask, segment ids
        vision: torch.Tensor | None,  # (B, L_v, D_v)
        vision_mask: torch.Tensor | None,  # (B, L_v) bool, True = valid step
        audio: torch.Tensor | None,  # (B, L_a, D_a)
        audio_mask: torch.Tensor | None,  # (B, L_a) bool
        label: torch.Tensor | None = None,  # (B,), read only by the sentiment ratios in training (eq. 6)
        return_attention: bool = False,
    ) -> KudaOutput:
        """The inputs of a modality the model lacks may be None."""
        inputs = (text, vision, vision_mask, audio, audio_mask)
        unimodal = {m: encoder(*inputs) for m, encoder in self.knowledge.items()}
        predictions = {m: output.prediction for m, output in unimodal.items()}
        ratios = self._ratios(predictions, label)
        fusion = self.fusion(unimodal, ratios, return_attention)
        fused = fusion.fused.mean(dim=1)  # (B, L_f or 1, d_f) -> (B, d_f)
        projected = {m: h.mean(dim=1) for m, h in fusion.projected.items()}  # each (B, d_f)
        ce_loss = sum(correlation_estimation_loss(h, fused) for h in projected.values())
        return KudaOutput(self.head(fused), predictions, ratios, ce_loss, fused, projected, fusion.attention)

    def _ratios(
        self, predictions: dict[str, torch.Tensor], label: torch.Tensor | None
    ) -> dict[str, torch.Tensor] | None:
        if not self.fusion.uses_ratios:
            return None
        if self.training and self.config.use_sentiment_ratio:
            if label is None:
                raise ValueError("KuDA in training mode needs `label` for the sentiment ratios (eq. 6), got None")
            return sentiment_ratios(predictions, label, self.config.k)
        if not self.training and self.config.test_ratio == "skip":
            return None
        return {m: torch.ones_like(p) for m, p in predictions.items()}

    def _frozen_parts(self) -> list[nn.Module]:
        parts = (part for encoder in self.knowledge.values() for part in (encoder.adapter, encoder.decoder))
        return [part for part in parts if part is not None]

    def freeze_knowledge(self) -> KuDA:
        """Freeze every adapter and decoder (stage 2; only the decoders without adapters): no gradients.

        A shared adapter LayerNorm (`adapter_norm="shared"`) keeps training, as in the public code. With
        `frozen_adapter_dropout=False` the frozen parts always run in eval mode (no dropout); otherwise they
        follow the model's mode (the public code).
        """
        for part in self._frozen_parts():
            part.requires_grad_(False)
        for encoder in self.knowledge.values():
            if encoder.adapter is not None and encoder.adapter.norm is not None:
                encoder.adapter.norm.requires_grad_(True)
        self.knowledge_frozen = True
        return self.train(self.training)

    def train(self, mode: bool = True) -> KuDA:
        super().train(mode)
        if self.knowledge_frozen and not self.config.frozen_adapter_dropout:
            for part in self._frozen_parts():
                part.eval()
        return self

    def knowledge_state_dict(self, modality: str) -> dict[str, torch.Tensor]:
        """State dict of `knowledge[modality]` (the same keys as a `UnimodalKnowledgeModel`'s)."""
        if modality not in self.knowledge:
            raise ValueError(f"modality {modality!r} is not in the model; it has {list(self.knowledge)}")
        return self.knowledge[modality].state_dict()

    def load_knowledge(self, state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> LoadReport:
        """Load stage-1 weights per modality, layer by layer: a layer (a module's own tensors, e.g. a Linear's
        weight and bias) with any tensor whose shape differs is skipped whole and reported (e.g. the vision
        input projection when feature sizes differ; the position embedding, a layer of its own, when lengths
        differ).

        A model built without adapters ("w/o Adapter") skips the checkpoint's adapter layers, reported with
        model shape (). Raises ValueError, before loading anything, for a modality not in the model or a key
        missing or unexpected.
        """
        absent = sorted(set(state_dicts) - set(self.knowledge))
        if absent:
            raise ValueError(f"knowledge given for modalities {absent} not in the model; it has {list(self.knowledge)}")
        targets = {m: self.knowledge[m].state_dict() for m in state_dicts}
        skipped: dict[str, dict[str, tuple[Shape, Shape]]] = {}
        if not self.config.use_adapters:
            for m, state in state_dicts.items():
                for key, value in state.items():
                    if key.startswith("adapter."):
                        layer, name = key.rsplit(".", 1)
                        skipped.setdefault(f"{m}.{layer}", {})[name] = (tuple(value.shape), ())
            state_dicts = {m: {k: v for k, v in state.items() if not k.startswith("adapter.")}
                           for m, state in state_dicts.items()}
        for m, state in state_dicts.items():
            missing = sorted(set(targets[m]) - set(state))
            unexpected = sorted(set(state) - set(targets[m]))
            if missing or unexpected:
                raise ValueError(
                    f"knowledge state of modality {m!r} does not match the model: "
                    f"missing {_listing(missing)}, unexpected {_listing(unexpected)}"
                )
        loaded = []
        for m, state in state_dicts.items():
            compatible = {}
            for layer, keys in _layers(self.knowledge[m], state).items():
                if all(state[key].shape == targets[m][key].shape for key in keys):
                    compatible.update((key, state[key]) for key in keys)
                    loaded += [f"{m}.{key}" for key in keys]
                else:
                    skipped[f"{m}.{layer}"] = {key.rpartition(".")[2] if key == layer else key[len(layer) + 1:]:
                                               (tuple(state[key].shape), tuple(targets[m][key].shape))
                                               for key in keys}
            self.knowledge[m].load_state_dict(compatible, strict=False)
        for layer, shapes in skipped.items():
            logger.info("knowledge layer %s not loaded (checkpoint shape, model shape): %s", layer, shapes)
        return LoadReport(loaded, skipped)


def _layers(module: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, list[str]]:
    """The keys of `state` grouped by layer: the module owning them, or the key alone for a tensor held
    directly by a module with submodules (e.g. a position embedding beside the encoder's layers)."""
    layers: dict[str, list[str]] = {}
    for key in state:
        owner = key.rpartition(".")[0]
        has_children = next(module.get_submodule(owner).children(), None) is not None
        layers.setdefault(key if has_children else owner, []).append(key)
    return layers
