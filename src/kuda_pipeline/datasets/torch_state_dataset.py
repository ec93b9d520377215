"""Versioned ``torch.save`` file of tensors and plain values, loaded with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io import AbstractVersionedDataset, DatasetError, Version

from kuda_pipeline.training.checkpoint import save_state


class TorchStateDataset(AbstractVersionedDataset[dict, dict]):
    """A state dict (or a dict of them, with plain metadata) on disk; nothing executable is loaded.

    `optional`: loading before any version was saved gives None instead of an error (e.g. a model that a
    prediction may take from the registry instead).
    """

    def __init__(
        self, filepath: str, version: Version | None = None, metadata: dict | None = None, optional: bool = False
    ):
        super().__init__(PurePosixPath(filepath), version, exists_function=lambda p: Path(p).exists())
        self.metadata = metadata
        self._optional = optional

    def load(self) -> dict | None:
        if self._optional and not self._exists():
            return None
        return torch.load(Path(self._get_load_path()), map_location="cpu", weights_only=True)

    def save(self, data: dict) -> None:
        save_state(Path(self._get_save_path()), data)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_file()
        except DatasetError:  # no version saved yet
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
