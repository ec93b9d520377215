"""Content digests: the same values give the same hex string, in any process, whatever their key order.

Used to tell whether a checkpoint was trained on the same data and settings (``training.fit``) and whether a
node's inputs are the same as an earlier run's (``incremental``). Arrays and tensors are hashed by dtype, shape
and bytes (memory-mapped arrays are read once, not copied); tables by their columns, dtypes and row hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch


def content_digest(value: Any) -> str:
    """A BLAKE2b-128 hex digest of ``value``: nested mappings/sequences of arrays, tensors, tables and scalars."""
    digest = hashlib.blake2b(digest_size=16)
    _update(digest, value)
    return digest.hexdigest()


def _update(digest: Any, value: Any) -> None:
    if isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(json.dumps(str(key)).encode())
            _update(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _update(digest, item)
        digest.update(b"]")
    elif isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"tensor:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"array:{array.dtype.str}:{array.shape}".encode())
        if array.dtype.hasobject:
            _update(digest, array.tolist())
        else:
            digest.update(array.reshape(-1).view(np.uint8).data)
    elif isinstance(value, pd.DataFrame):
        digest.update(f"table:{list(map(str, value.columns))}:{list(map(str, value.dtypes))}".encode())
        digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
    elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
        digest.update(json.dumps(value.item() if isinstance(value, np.generic) else value).encode())
    else:
        raise TypeError(f"cannot digest a {type(value).__name__}: give arrays, tensors, tables, mappings or scalars")
