"""A small schema for nested parameters: known keys (a misspelt one names the nearest known key), typed leaves,
required keys, and a semantic check per section. Sections can be derived from a config dataclass's fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union


class ParameterError(ValueError):
    """A parameter is unknown, missing, of the wrong type or invalid; the message names its dotted path."""


@dataclass(frozen=True)
class Leaf:
    """A value that ``accepts`` admits; ``expected`` says what in messages (e.g. "an integer >= 1")."""

    expected: str
    accepts: Callable[[Any], bool]


@dataclass(frozen=True)
class Section:
    """A mapping with these keys only; ``required`` must be present; ``check`` (the section's semantics, e.g.
    building a config object) runs once its keys and types are right and raises ValueError/TypeError."""

    fields: Mapping[str, Spec]
    required: tuple[str, ...] = ()
    check: Callable[[Mapping[str, Any]], Any] | None = None


@dataclass(frozen=True)
class MapOf:
    """A mapping of free keys (names the user chooses), each value matching ``value``."""

    value: Spec


@dataclass(frozen=True)
class ListOf:
    """A non-empty list whose items each match ``item``."""

    item: Spec
    allow_empty: bool = False


Spec = Union[Leaf, Section, MapOf, ListOf]


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


ANY = Leaf("anything", lambda value: True)
BOOL = Leaf("true or false", lambda value: isinstance(value, bool))
INT = Leaf("an integer", is_int)
REAL = Leaf("a finite number", is_real)
STR = Leaf("a string", lambda value: isinstance(value, str))
POSITIVE_INT = Leaf("an integer >= 1", lambda value: is_int(value) and value >= 1)


def one_of(*choices: Any) -> Leaf:
    return Leaf(f"one of {list(choices)}", lambda value: any(value == c and type(value) is type(c) for c in choices))


def optional(leaf: Leaf) -> Leaf:
    return Leaf(f"null or {leaf.expected}", lambda value: value is None or leaf.accepts(value))


def list_of(leaf: Leaf, length: int | None = None) -> Leaf:
    size = f"{length} " if length is not None else ""
    return Leaf(f"a list of {size}values, each {leaf.expected}",
                lambda value: isinstance(value, (list, tuple)) and (length is None or len(value) == length)
                and all(leaf.accepts(item) for item in value))


def section_from_dataclass(cls: type, *, exclude: tuple[str, ...] = (), partial: bool = False,
                           check: Callable[[Mapping[str, Any]], Any] | None = None) -> Section:
    """The fields of dataclass ``cls`` (less ``exclude``) with leaves from their annotations; nested dataclasses
    become sections. Fields without a default are required unless ``partial``."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: _spec_of(hints[f.name], partial) for f in dataclasses.fields(cls) if f.name not in exclude}
    required = () if partial else tuple(
        f.name for f in dataclasses.fields(cls)
        if f.name not in exclude and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return Section(fields, required, check)


def _spec_of(annotation: Any, partial: bool) -> Spec:
    if dataclasses.is_dataclass(annotation):
        return section_from_dataclass(annotation, partial=partial)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType) and type(None) in args:
        [inner] = [arg for arg in args if arg is not type(None)]
        inner_spec = _spec_of(inner, partial)
        return optional(inner_spec) if isinstance(inner_spec, Leaf) else ANY
    if origin in (tuple, list):
        item = args[0] if args else Any
        length = len(args) if origin is tuple and args and args[-1] is not Ellipsis else None
        item_spec = _spec_of(item, partial)
        return list_of(item_spec, length) if isinstance(item_spec, Leaf) else ANY
    return {bool: BOOL, int: INT, float: REAL, str: STR}.get(annotation, ANY)


def check_tree(value: Any, spec: Spec, path: str) -> None:
    """Raise ParameterError naming the dotted path of the first unknown key, missing key, mistyped or invalid value."""
    if isinstance(spec, Leaf):
        if not spec.accepts(value):
            raise ParameterError(f"{path}: expected {spec.expected}, got {value!r} ({type(value).__name__})")
    elif isinstance(spec, ListOf):
        if not isinstance(value, (list, tuple)) or (not value and not spec.allow_empty):
            raise ParameterError(f"{path}: expected a{'' if spec.allow_empty else ' non-empty'} list, got {value!r}")
        for position, item in enumerate(value):
            check_tree(item, spec.item, f"{path}[{position}]")
    else:
        if not isinstance(value, Mapping):
            raise ParameterError(f"{path}: expected a mapping, got {value!r} ({type(value).__name__})")
        if isinstance(spec, MapOf):
            for key, item in value.items():
                check_tree(item, spec.value, f"{path}.{key}")
            return
        for key, item in value.items():
            if key not in spec.fields:
                raise ParameterError(unknown_key_message(path, key, spec.fields))
            check_tree(item, spec.fields[key], f"{path}.{key}")
        missing = [key for key in spec.required if key not in value]
        if missing:
            raise ParameterError(f"{path}: required key(s) {missing} missing")
        if spec.check is not None:
            try:
                spec.check(value)
            except (ValueError, TypeError, KeyError) as error:
                raise ParameterError(f"{path}: {error}") from error


def unknown_key_message(path: str, key: Any, known: Mapping[str, Any] | list[str]) -> str:
    """"unknown parameter 'a.b.kee'; did you mean 'a.b.key'?" (difflib's nearest), else the known keys."""
    prefix = f"{path}." if path else ""
    nearest = difflib.get_close_matches(str(key), [str(name) for name in known], n=1, cutoff=0.6)
    hint = f"did you mean '{prefix}{nearest[0]}'?" if nearest else f"known keys here: {sorted(map(str, known))}"
    return f"unknown parameter '{prefix}{key}'; {hint}"

