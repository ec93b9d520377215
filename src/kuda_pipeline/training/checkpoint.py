"""Checkpoint files: written atomically, read with `weights_only=True` (nothing executable is loaded)."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from kuda_pipeline.atomic_file import atomic_write


def save_state(path: Path | str, state: Mapping[str, Any]) -> None:
    """`torch.save` to a temporary sibling file, then rename it over `path`: a crash leaves the old file."""
    with atomic_write(path) as file:
        torch.save(dict(state), file)


def load_state(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a file written by `save_state`; tensors and plain Python values only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise ValueError(f"checkpoint {path} cannot be loaded with weights_only=True: {error}") from error
