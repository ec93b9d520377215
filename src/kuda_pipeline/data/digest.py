"""Content digest of split arrays: the same names, dtypes, shapes and bytes give the same digest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

_CHUNK_BYTES = 64 * 2**20


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """Hex BLAKE2b (16 bytes) over each array's name, dtype, shape and bytes, in name order; read in chunks, so a
    memory-mapped array is never copied whole."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        if array.dtype == object:
            raise ValueError(f"array {name!r} has dtype object: its bytes are pointers, not content")
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        flat = array.reshape(-1)  # a view of a contiguous (memory-mapped) array
        step = max(1, _CHUNK_BYTES // array.itemsize)
        for start in range(0, flat.size, step):
            digest.update(np.ascontiguousarray(flat[start : start + step]).tobytes())
    return digest.hexdigest()
