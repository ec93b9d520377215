"""Content keys: a cell is identified by what determines its result, so a finished cell is never run again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

KEY_LENGTH = 16  # hex digits of the cell key (64 bits)


def cell_key(settings: Mapping[str, Any]) -> str:
    """A stable hash of ``settings`` (plain JSON values): equal settings, in any key order, give equal keys, and
    numbers that compare equal (``0`` and ``0.0`` as YAML gives them) hash alike."""
    canonical = json.dumps(_numbers_as_floats(settings), sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_LENGTH]


def _numbers_as_floats(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _numbers_as_floats(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbers_as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def arrays_fingerprint(arrays: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """A hash of every split array's name, dtype, shape and bytes (the content, whatever version it was saved as)."""
    digest = hashlib.blake2b(digest_size=16)
    for split in sorted(arrays):
        for name in sorted(arrays[split]):
            values = np.ascontiguousarray(arrays[split][name])
            _update(digest, f"{split}/{name}:{values.dtype.str}:{values.shape}", values.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def state_fingerprint(state: Mapping[str, Any]) -> str:
    """A hash of a stage-1 checkpoint: its plain values (config, modality) and every tensor of its state dict."""
    digest = hashlib.blake2b(digest_size=16)
    plain = {key: value for key, value in state.items() if key != "state_dict"}
    digest.update(json.dumps(plain, sort_keys=True, default=str).encode())
    for name, tensor in sorted(state["state_dict"].items()):
        tensor = tensor.detach().cpu().contiguous()
        _update(digest, f"{name}:{tensor.dtype}:{tuple(tensor.shape)}", tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _update(digest: Any, description: str, content: np.ndarray) -> None:
    """Add one array: its description (name, dtype, shape) and its bytes (``content``, a flat uint8 view)."""
    digest.update(description.encode())
    digest.update(content)
