"""Loading pickles from untrusted sources (MMSA processed files) without executing code.

A pickle may name any importable callable; the unpickler below resolves only the globals that
numpy array, dtype and scalar reconstruction needs, plus builtin containers and scalars.
"""

import pickle
from pathlib import Path
from typing import Any

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


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""


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
    with source.open("rb") as file:
        return _RestrictedUnpickler(file, source).load()
