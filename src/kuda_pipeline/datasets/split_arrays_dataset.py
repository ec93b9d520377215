"""Versioned directory of memory-mappable split arrays (``<split>/<key>.npy``)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from kuda_pipeline.data.contract import SplitArrays
from kuda_pipeline.data.split_arrays import load_split_arrays, save_split_arrays


class SplitArraysDataset(AbstractVersionedDataset[SplitArrays, SplitArrays]):
    """Saves ``{split: {key: array}}`` as ``.npy`` files; loads them memory-mapped."""

    def __init__(self, path: str, version: Version | None = None, metadata: dict | None = None):
        super().__init__(PurePosixPath(path), version, exists_function=lambda p: Path(p).exists())
        self.metadata = metadata

    def load(self) -> SplitArrays:
        return load_split_arrays(Path(self._get_load_path()))

    def save(self, data: SplitArrays) -> None:
        save_split_arrays(Path(self._get_save_path()), data)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:  # no version saved yet
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version}
