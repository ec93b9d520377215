"""A Hugging Face cache in a temporary folder, filled as a download would fill it (tests never use the network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants as hub_constants

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_cache(cache: Path, hub_id: str, checkpoint: Path) -> Path:
    """The Hugging Face cache layout for ``hub_id`` with the files of ``checkpoint``: what a download leaves."""
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for file in checkpoint.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache


@pytest.fixture
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache under ``tmp_path``, used offline (as with ``HF_HOME=<tmp> HF_HUB_OFFLINE=1``)."""
    cache = tmp_path / "hf_home" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return cache
