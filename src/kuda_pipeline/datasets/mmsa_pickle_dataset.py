"""An MMSA processed pickle (``unaligned_39.pkl`` …), read with the restricted unpickler."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from kuda_pipeline.data.safe_pickle import load_untrusted_pickle
from kuda_pipeline.data.synthetic import write_mmsa_pickle


class MMSAPickleDataset(AbstractDataset[dict, dict]):
    """Loads an MMSA pickle safely; saving writes one atomically (used by the synthetic generator).

    Args:
        filepath: Where the pickle lies, e.g. ``data/01_raw/sims/unaligned_39.pkl``.
        source_hint: What to tell a user whose file is missing (where it comes from).
    """

    def __init__(self, filepath: str, source_hint: str = "", metadata: dict | None = None):
        self._filepath = PurePosixPath(filepath)
        self._source_hint = source_hint
        self.metadata = metadata

    def load(self) -> dict:
        path = Path(self._filepath)
        if not path.is_file():
            hint = f" {self._source_hint}" if self._source_hint else ""
            raise DatasetError(
                f"MMSA pickle not found: {path}. Put the processed file there.{hint}"
            )
        return load_untrusted_pickle(path)

    def save(self, data: dict) -> None:
        write_mmsa_pickle(data, Path(self._filepath))

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
