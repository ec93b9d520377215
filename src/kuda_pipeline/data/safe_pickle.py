"""MMSA processed pickles: loaded from untrusted sources without executing code, written atomically.

A pickle may name any importable callable; the unpickler below resolves only the globals that
numpy array, dtype and scalar reconstruction needs, plus builtin containers and scalars. A file that
cannot be read as such a pickle (empty, not a pickle, truncated, corrupt, or declaring objects far
larger than itself) raises `PickleFileError` whose one-line message names the file and the problem.
"""

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kuda_pipeline.atomic_file import atomic_write

_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        *(
            (module, name)
            for module in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        ),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Protocol 2 stores bytes (an array's raw data) as _codecs.encode(text, "latin1").
        ("_codecs", "encode"),
        ("collections", "OrderedDict"),
        *(
            (module, name)
            for module in ("builtins", "__builtin__")  # protocol 2 writes Python 2's module name
            for name in (
                "dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float",
                "complex", "bool",
            )
        ),
    ]
)
_PROTOCOL_2_OR_LATER = b"\x80"  # the PROTO opcode every pickle of protocol >= 2 starts with
_TRUNCATION_MESSAGES = ("Ran out of input", "pickle data was truncated")


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""


class PickleFileError(pickle.UnpicklingError):
    """The file is not a readable pickle: empty, not a pickle, truncated or corrupt."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, source: Path) -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self._source}: refusing to load global '{module}.{name}'; only numpy arrays "
                "and builtin containers/scalars are allowed in an MMSA pickle"
            )
        return super().find_class(module, name)


def load_untrusted_pickle(path: str | Path) -> Any:
    """Unpickle `path`, allowing only numpy arrays/dtypes/scalars and builtin values."""
    source = Path(path)
    size = source.stat().st_size
    if size == 0:
        raise PickleFileError(f"{source}: the file is empty (0 bytes); expected a pickle")
    with source.open("rb") as file:
        head = file.read(8)
        file.seek(0)
        try:
            loaded = _RestrictedUnpickler(file, source).load()
        except UnsafePickleError:
            raise
        except Exception as error:  # any failure to decode is a property of the file
            raise PickleFileError(_describe_failure(source, size, head, error)) from error
    _check_array_sizes(loaded, source, size)
    return loaded


def _describe_failure(source: Path, size: int, head: bytes, error: Exception) -> str:
    reason = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, MemoryError):
        return (f"{source}: unpickling ran out of memory: the {size}-byte file declares an object far larger "
                f"than itself (corrupt or hostile file) ({reason})")
    if not head.startswith(_PROTOCOL_2_OR_LATER):
        return (f"{source}: not a pickle file (a pickle of protocol 2 or later starts with byte 0x80; this file "
                f"starts with {head!r}): {reason}")
    if isinstance(error, EOFError) or reason in _TRUNCATION_MESSAGES:
        return f"{source}: the pickle is truncated: its data stops after {size} bytes, before the end of the pickle"
    return f"{source}: corrupt pickle ({type(error).__name__}: {reason})"


def _check_array_sizes(loaded: Any, source: Path, size: int) -> None:
    """Arrays hold data read from the file, so together they cannot be larger than it.

    An array a pickle merely declares (``ndarray(shape)`` or ``_reconstruct`` with a large shape) is
    allocated lazily and uninitialised; refusing it here keeps its pages from ever being touched.
    """
    declared = sum(array.nbytes for array in _numeric_arrays_in(loaded))
    if declared > size:
        raise PickleFileError(
            f"{source}: the pickle declares arrays of {declared} bytes in a {size}-byte file: their data "
            "is not in the file (corrupt or hostile file)"
        )


def _numeric_arrays_in(value: Any) -> list[np.ndarray]:
    """The non-object arrays anywhere in nested dicts/lists/tuples/sets (iterative: no recursion limit)."""
    found, pending, seen = [], [value], set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            if item.dtype != object:
                found.append(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
    return found


def write_mmsa_pickle(data: Mapping[str, Any], path: str | Path) -> None:
    """Pickle `data` to `path` atomically, with protocol 4 as MMSA's files."""
    with atomic_write(path) as file:
        pickle.dump(data, file, protocol=4)
