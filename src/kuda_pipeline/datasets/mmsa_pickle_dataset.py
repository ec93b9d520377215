"""An MMSA processed pickle (``unaligned_39.pkl`` …), read with the restricted unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from kuda_pipeline.data.mmsa import RawMMSA
from kuda_pipeline.data.safe_pickle import load_untrusted_pickle, write_mmsa_pickle


class MMSAPickleDataset(AbstractDataset[dict, RawMMSA]):
    """Loads an MMSA pickle safely, with its file path (for error messages); saving writes one atomically.

    Every load failure is a ``DatasetError`` whose one-line message names the file and what is wrong.

    Args:
        filepath: Where the pickle lies, e.g. ``data/01_raw/sims/unaligned_39.pkl``.
        source_hint: What to tell a user whose file is missing (where it comes from).
    """

    def __init__(self, filepath: str, source_hint: str = "", metadata: dict | None = None):
        self._filepath = PurePosixPath(filepath)
        self._source_hint = source_hint
        self.metadata = metadata

    def load(self) -> RawMMSA:
        path = Path(self._filepath)
        if not path.is_file():
            hint = f" {self._source_hint}" if self._source_hint else ""
            raise DatasetError(
                f"MMSA pickle not found: {path}. Put the processed file there.{hint}"
            )
        try:
            return RawMMSA(source=str(self._filepath), content=load_untrusted_pickle(path))
        except pickle.UnpicklingError as error:  # the message names the file already
            raise DatasetError(str(error)) from error
        except OSError as error:
            raise DatasetError(f"{path}: cannot read the file: {error.strerror or error}") from error

    def save(self, data: dict) -> None:
        write_mmsa_pickle(data, Path(self._filepath))

    def as_loaded(self, data: dict) -> RawMMSA:
        """What :meth:`load` returns after ``save(data)``, without the file (for ranks that do not write)."""
        return RawMMSA(source=str(self._filepath), content=data)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
