"""Validation and cleaning of an MMSA processed pickle (already unpickled) into split arrays.

Every check reads sizes from the file itself, and token ids, masks and segment ids are checked against the
text encoder's limits (`TokenLimits`); whatever would only break a later stage is refused here. A failure raises
`MMSAFormatError` naming the source file, the split, the key, the offending shape or value and what was expected.
"""

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kuda_pipeline.data.contract import (
    FEATURE_KEYS,
    LABEL_KEY,
    LENGTH_KEYS,
    RAW_LABEL_KEY,
    RAW_UNIMODAL_LABEL_KEYS,
    SPLITS,
    TEXT_KEY,
    UNIMODAL_LABEL_KEYS,
)

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("id", "raw_text", TEXT_KEY, *FEATURE_KEYS, *LENGTH_KEYS.values(), RAW_LABEL_KEY)
_LABEL_TOLERANCE = 1e-4
_CLEAN_CHUNK_BYTES = 64 * 2**20


class MMSAFormatError(ValueError):
    """The MMSA pickle does not have the expected layout."""


@dataclass(frozen=True)
class RawMMSA:
    """An unpickled MMSA file and the path it was read from (named in every error)."""

    source: str
    content: Any


@dataclass(frozen=True)
class TokenLimits:
    """What the text encoder accepts in ``text_bert``: ids below `vocab_size`, segment ids below
    `type_vocab_size`, at most `max_positions` tokens, padding id `pad_token_id` (None: no such limit)."""

    vocab_size: int
    type_vocab_size: int | None = None
    max_positions: int | None = None
    pad_token_id: int = 0


@dataclass
class Ingested:
    """Validated split arrays (the data contract), one row per sample, and an ingestion report."""

    splits: dict[str, dict[str, np.ndarray]]
    samples: pd.DataFrame
    report: dict[str, Any]


@dataclass
class _Where:
    source: str
    split: str

    def error(self, key: str, detail: str) -> MMSAFormatError:
        return MMSAFormatError(f"{self.source}: split '{self.split}', key '{key}': {detail}")


def ingest_mmsa(raw: Mapping, source: str, label_range: tuple[float, float], *, token_limits: TokenLimits) -> Ingested:
    """Validate the MMSA dict `raw` (read from `source`) for a text encoder accepting `token_limits`,
    clean non-finite features, convert dtypes."""
    low, high = label_range
    if not low < high:
        raise ValueError(f"label_range must be (low, high) with low < high, got {label_range}")
    if not isinstance(raw, Mapping):
        raise MMSAFormatError(f"{source}: top level must be a dict of splits, got {type(raw).__name__}")
    missing = [split for split in SPLITS if split not in raw]
    if missing:
        raise MMSAFormatError(
            f"{source}: top level must hold splits {list(SPLITS)}; missing {missing}, found {list(raw)}"
        )
    parsed = {split: _parse_split(raw[split], _Where(source, split), label_range, token_limits) for split in SPLITS}
    _check_across_splits(parsed, source)
    return Ingested(
        splits={split: split_data.arrays for split, split_data in parsed.items()},
        samples=pd.concat([_samples_table(split, data) for split, data in parsed.items()], ignore_index=True),
        report=_report(parsed, source, token_limits),
    )


@dataclass
class _ParsedSplit:
    arrays: dict[str, np.ndarray]
    raw_text: np.ndarray
    non_finite_replaced: dict[str, int]
    ignored_keys: list[str]


def ingest_new_samples(
    raw: Mapping, source: str, label_range: tuple[float, float], *, token_limits: TokenLimits
) -> dict[str, np.ndarray]:
    """Validate new samples to predict on (`raw` read from `source`), labels optional: one split's dict of arrays,
    or a dict of splits (joined in train, valid, test order). The same checks as `ingest_mmsa`; arrays without labels."""
    if not isinstance(raw, Mapping):
        raise MMSAFormatError(f"{source}: top level must be a dict of arrays or of splits, got {type(raw).__name__}")
    splits = {split: raw[split] for split in SPLITS if split in raw} or {"samples": raw}
    parsed = {split: _parse_split(data, _Where(source, split), label_range, token_limits, labelled=False)
              for split, data in splits.items()}
    _check_across_splits(parsed, source)
    keys = ("id", TEXT_KEY, *FEATURE_KEYS, *LENGTH_KEYS.values())
    return {key: np.concatenate([data.arrays[key] for data in parsed.values()]) for key in keys}


def _parse_split(
    split_raw: Any, where: _Where, label_range: tuple[float, float], token_limits: TokenLimits, labelled: bool = True
) -> _ParsedSplit:
    if not isinstance(split_raw, Mapping):
        raise MMSAFormatError(
            f"{where.source}: split '{where.split}' must be a dict of arrays, got {type(split_raw).__name__}"
        )
    # the label is required when `labelled`, and read whenever present
    required = [key for key in REQUIRED_KEYS if key != RAW_LABEL_KEY or labelled or key in split_raw]
    missing = [key for key in required if key not in split_raw]
    if missing:
        raise where.error(missing[0], f"required key(s) {missing} missing; found {sorted(split_raw)}")
    unimodal = [key for key in RAW_UNIMODAL_LABEL_KEYS.values() if key in split_raw]
    if unimodal and len(unimodal) != len(RAW_UNIMODAL_LABEL_KEYS):
        absent = [key for key in RAW_UNIMODAL_LABEL_KEYS.values() if key not in unimodal]
        raise where.error(absent[0], f"unimodal labels must come all three or none; found only {unimodal}")
    values = {key: np.asarray(split_raw[key]) for key in (*required, *unimodal)}
    _check_shapes_and_dtypes(values, where)

    arrays = {"id": values["id"].astype(str), "text_bert": _token_array(values["text_bert"], where, token_limits)}
    non_finite = {}
    for key in FEATURE_KEYS:
        arrays[key], non_finite[key] = _feature_array(values[key], where, key)
        length_key = LENGTH_KEYS[key]
        arrays[length_key] = _length_array(values[length_key], arrays[key].shape[1], where, length_key)
    if RAW_LABEL_KEY in values:
        arrays[LABEL_KEY] = _label_array(values[RAW_LABEL_KEY], label_range, where, RAW_LABEL_KEY)
    for modality, key in RAW_UNIMODAL_LABEL_KEYS.items():
        if key in values:
            arrays[UNIMODAL_LABEL_KEYS[modality]] = _label_array(values[key], label_range, where, key)
    return _ParsedSplit(
        arrays=arrays,
        raw_text=values["raw_text"],
        non_finite_replaced=non_finite,
        ignored_keys=sorted(set(split_raw) - set(values)),
    )


def _check_shapes_and_dtypes(values: dict[str, np.ndarray], where: _Where) -> None:
    for key in ("id", "raw_text"):
        if values[key].ndim != 1:
            raise where.error(key, f"must be 1-D, got shape {values[key].shape}")
    n_samples = len(values["id"])
    if n_samples == 0:
        raise where.error("id", "the split is empty (0 samples); expected at least one sample in every split")
    for key, array in values.items():
        if array.ndim == 0 or array.shape[0] != n_samples:
            raise where.error(key, f"shape {array.shape} does not start with the {n_samples} samples of 'id'")
        if key not in ("id", "raw_text") and not _is_real(array.dtype):
            raise where.error(key, f"must hold real numbers (integer or float dtype), got dtype {array.dtype}")


def _is_real(dtype: np.dtype) -> bool:
    return np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)


def _token_array(text_bert: np.ndarray, where: _Where, limits: TokenLimits) -> np.ndarray:
    """(N, 3, L_t) rows of token ids, attention mask, segment ids, checked against the text encoder's limits."""
    if text_bert.ndim != 3 or text_bert.shape[1] != 3 or text_bert.shape[2] == 0:
        raise where.error("text_bert", f"must have shape (N, 3, L_t) with L_t >= 1, got {text_bert.shape}")
    if limits.max_positions is not None and text_bert.shape[2] > limits.max_positions:
        raise where.error("text_bert", f"{text_bert.shape[2]} tokens per sample, but the text encoder takes at most "
                                       f"{limits.max_positions} (max_position_embeddings)")
    token_ids, mask, segments = text_bert[:, 0], text_bert[:, 1], text_bert[:, 2]  # 3 x (N, L_t)
    vocabulary = f"integers in [0, {limits.vocab_size}) (the text encoder's vocabulary)"
    segment_types = "non-negative integers" if limits.type_vocab_size is None else \
        f"integers in [0, {limits.type_vocab_size})"
    _check_integers_below(token_ids, limits.vocab_size, where, "token ids", vocabulary)
    _check_integers_below(mask, 2, where, "attention mask", "0 or 1")
    _check_integers_below(segments, limits.type_vocab_size, where, "segment ids", segment_types)
    padding = token_ids == limits.pad_token_id  # (N, L_t)
    disagree = np.flatnonzero(np.any((mask == 1) == padding, axis=1))
    if disagree.size:
        first = disagree[0]
        raise where.error("text_bert", (
            f"attention mask disagrees with the token ids' padding in {disagree.size} sample(s), e.g. sample "
            f"{first}: mask length {int(mask[first].sum())}, non-padding tokens "
            f"{int((~padding[first]).sum())}; expected mask 1 exactly where the token id is not the padding "
            f"id {limits.pad_token_id}"))
    not_prefix = np.flatnonzero(np.any(np.diff(mask, axis=1) > 0, axis=1) | (mask[:, 0] == 0))
    if not_prefix.size:
        raise where.error("text_bert", (
            f"attention mask of {not_prefix.size} sample(s), e.g. sample {not_prefix[0]}, is not ones then "
            "zeros; expected right-padded text of at least one token"))
    return text_bert.astype(np.int64, copy=False)


def _check_integers_below(values: np.ndarray, bound: int | None, where: _Where, row: str, expected: str) -> None:
    """`values` (N, L_t) must be finite integers in [0, bound) (bound None: no upper limit)."""
    integers = np.issubdtype(values.dtype, np.integer)
    not_integer = np.zeros(values.shape, bool) if integers else ~np.isfinite(values) | (values != np.round(values))
    out_of_range = (values < 0) | (values >= bound) if bound is not None else values < 0
    for problem, bad in (("are not finite integers", not_integer), ("are out of range", out_of_range)):
        if bad.any():
            sample = np.argwhere(bad)[0][0]
            raise where.error("text_bert", f"{row}: {int(bad.sum())} value(s) {problem}, e.g. "
                                           f"{_shown(values[bad][0])} in sample {sample}; expected {expected}")


def _shown(value: np.generic) -> int | float:
    """An integral float as an int (30522.0 -> 30522), for messages."""
    number = value.item()
    return int(number) if isinstance(number, float) and number.is_integer() and abs(number) < 2**53 else number


def _feature_array(features: np.ndarray, where: _Where, key: str) -> tuple[np.ndarray, int]:
    if features.ndim != 3 or 0 in features.shape[1:]:
        raise where.error(key, f"must have shape (N, L, D) with L, D >= 1, got {features.shape}")
    cleaned, count = _replace_non_finite(features.astype(np.float32, copy=False))
    if count:
        logger.info("%s: split '%s', key '%s': replaced %d non-finite values by 0", where.source,
                    where.split, key, count)
    return cleaned, count


def _replace_non_finite(features: np.ndarray) -> tuple[np.ndarray, int]:
    """Set NaN/±inf to 0, in place when writeable (else on a copy made on the first hit), chunk by chunk."""
    target = features if features.flags.writeable else None
    rows = max(1, _CLEAN_CHUNK_BYTES // max(1, features[:1].nbytes))
    count = 0
    for start in range(0, len(features), rows):
        bad = ~np.isfinite(features[start:start + rows])
        hits = int(np.count_nonzero(bad))
        if hits:
            if target is None:
                target = features.copy()
            target[start:start + rows][bad] = 0.0
            count += hits
    return (features if target is None else target), count


def _length_array(lengths: np.ndarray, max_length: int, where: _Where, key: str) -> np.ndarray:
    if lengths.ndim != 1:
        raise where.error(key, f"must be 1-D, got shape {lengths.shape}")
    if not np.all(np.isfinite(lengths)) or not np.array_equal(lengths, np.round(lengths)):
        raise where.error(key, "lengths must be integer-valued")
    if lengths.size and (lengths.min() < 0 or lengths.max() > max_length):
        raise where.error(
            key, f"lengths must lie in [0, {max_length}], found min {lengths.min()} and max {lengths.max()}"
        )
    if not lengths.any():
        raise where.error(key, f"every length in the split is 0; expected at least one sample with a length in "
                               f"[1, {max_length}]")
    return lengths.astype(np.int64, copy=False)


def _label_array(labels: np.ndarray, label_range: tuple[float, float], where: _Where, key: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # (N, 1) -> (N,)
    if labels.ndim != 1:
        raise where.error(key, f"labels must have shape (N,) or (N, 1), got {labels.shape}")
    non_finite = ~np.isfinite(labels)
    if non_finite.any():
        raise where.error(key, f"{int(non_finite.sum())} label(s) are not finite, e.g. in sample "
                               f"{np.flatnonzero(non_finite)[0]}; expected numbers in {label_range}")
    labels = labels.astype(np.float32, copy=False)
    low, high = label_range
    outside = ~((labels >= low - _LABEL_TOLERANCE) & (labels <= high + _LABEL_TOLERANCE))
    if outside.any():
        raise where.error(
            key, f"{int(outside.sum())} label(s) outside {label_range}, e.g. {labels[outside][:3].tolist()}"
        )
    return labels


def _check_across_splits(parsed: dict[str, _ParsedSplit], source: str) -> None:
    reference_split, reference = next(iter(parsed.items()))
    for split, data in parsed.items():
        where = _Where(source, split)
        for key in ("text_bert", *FEATURE_KEYS):
            expected, found = reference.arrays[key].shape[1:], data.arrays[key].shape[1:]
            if found != expected:
                raise where.error(
                    key, f"per-sample shape {found} differs from {expected} in split '{reference_split}'"
                )
        unimodal, expected_unimodal = _has_unimodal_labels(data.arrays), _has_unimodal_labels(reference.arrays)
        if unimodal != expected_unimodal:
            raise where.error(
                RAW_UNIMODAL_LABEL_KEYS["t"],
                f"unimodal labels present: {unimodal}, but in split '{reference_split}': {expected_unimodal}",
            )
    _check_unique_ids(parsed, source)


def _has_unimodal_labels(arrays: Mapping[str, np.ndarray]) -> bool:
    return UNIMODAL_LABEL_KEYS["t"] in arrays


def _check_unique_ids(parsed: dict[str, _ParsedSplit], source: str) -> None:
    all_ids = np.concatenate([data.arrays["id"] for data in parsed.values()])
    unique, counts = np.unique(all_ids, return_counts=True)
    duplicated = unique[counts > 1]
    if duplicated.size:
        first = duplicated[0]
        splits = [split for split, data in parsed.items() if np.any(data.arrays["id"] == first)]
        raise _Where(source, splits[-1]).error(
            "id",
            f"{duplicated.size} id(s) occur more than once in the dataset, e.g. '{first}' in splits {splits}",
        )


def _samples_table(split: str, data: _ParsedSplit) -> pd.DataFrame:
    arrays = data.arrays
    columns: dict[str, Any] = {
        "id": arrays["id"],
        "split": split,
        "raw_text": data.raw_text.astype(str),
        "label": arrays[LABEL_KEY],
    }
    columns.update({key: arrays[key] for key in UNIMODAL_LABEL_KEYS.values() if key in arrays})
    columns["text_length"] = arrays["text_bert"][:, 1, :].sum(axis=1)
    columns["vision_length"] = arrays["vision_lengths"]
    columns["audio_length"] = arrays["audio_lengths"]
    return pd.DataFrame(columns)


def _report(parsed: dict[str, _ParsedSplit], source: str, token_limits: TokenLimits) -> dict[str, Any]:
    labels = np.concatenate([data.arrays[LABEL_KEY] for data in parsed.values()])
    return {
        "source": source,
        "splits": {
            split: {
                "count": len(data.arrays["id"]),
                "shapes": {key: list(array.shape) for key, array in data.arrays.items()},
                "non_finite_replaced": data.non_finite_replaced,
                "ignored_keys": data.ignored_keys,
            }
            for split, data in parsed.items()
        },
        "label_min": float(labels.min()) if labels.size else None,
        "label_max": float(labels.max()) if labels.size else None,
        "has_unimodal_labels": _has_unimodal_labels(next(iter(parsed.values())).arrays),
        "token_limits": dataclasses.asdict(token_limits),
    }
