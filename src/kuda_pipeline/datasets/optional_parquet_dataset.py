"""A Parquet file that may not exist yet: loads the latest version, or ``None`` when there is none."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractVersionedDataset, DatasetError, Version


class OptionalParquetDataset(AbstractVersionedDataset[pd.DataFrame, pd.DataFrame]):
    """Read-side of a cache (e.g. earlier translations) or an optional input (e.g. a precomputed file)."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict | None = None):
        super().__init__(PurePosixPath(filepath), version, exists_function=lambda p: Path(p).exists())
        self.metadata = metadata

    def load(self) -> pd.DataFrame | None:
        try:
            path = Path(self._get_load_path())
        except DatasetError:
            return None
        return pd.read_parquet(path) if path.is_file() else None

    def save(self, data: pd.DataFrame) -> None:
        path = Path(self._get_save_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        data.to_parquet(path, index=False)

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
