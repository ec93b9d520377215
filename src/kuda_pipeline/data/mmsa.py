"""Validation and cleaning of an MMSA processed pickle (already unpickled) into split arrays.

Every check reads sizes from the file itself; a failure raises `MMSAFormatError` naming the
source file, the split, the key and the offending shape or value.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
REQUIRED_KEYS = (
    "id", "raw_text", "text_bert", "vision", "audio", "vision_lengths", "audio_lengths",
    "regression_labels",
)
UNIMODAL_LABEL_KEYS = {
    "label_T": "regression_labels_T",
    "label_V": "regression_labels_V",
    "label_A": "regression_labels_A",
}
FEATURE_KEYS = ("vision", "audio")
LENGTH_KEYS = {"vision": "vision_lengths", "audio": "audio_lengths"}
_LABEL_TOLERANCE = 1e-4
_CLEAN_CHUNK_BYTES = 64 * 2**20


class MMSAFormatError(ValueError):
    """The MMSA pickle does not have the expected layout."""


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


def ingest_mmsa(raw: Mapping, source: str, label_range: tuple[float, float]) -> Ingested:
    """Validate the MMSA dict `raw` (read from `source`), clean non-finite features, convert dtypes."""
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
    parsed = {split: _parse_split(raw[split], _Where(source, split), label_range) for split in SPLITS}
    _check_across_splits(parsed, source)
    return Ingested(
        splits={split: split_data.arrays for split, split_data in parsed.items()},
        samples=pd.concat([_samples_table(split, data) for split, data in parsed.items()], ignore_index=True),
        report=_report(parsed, source),
    )


@dataclass
class _ParsedSplit:
    arrays: dict[str, np.ndarray]
    raw_text: np.ndarray
    non_finite_replaced: dict[str, int]
    ignored_keys: list[str]


def _parse_split(split_raw: Any, where: _Where, label_range: tuple[float, float]) -> _ParsedSplit:
    if not isinstance(split_raw, Mapping):
        raise MMSAFormatError(
            f"{where.source}: split '{where.split}' must be a dict of arrays, got {type(split_raw).__name__}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in split_raw]
    if missing:
        raise where.error(missing[0], f"required key(s) {missing} missing; found {sorted(split_raw)}")
    unimodal = [key for key in UNIMODAL_LABEL_KEYS.values() if key in split_raw]
    if unimodal and len(unimodal) != len(UNIMODAL_LABEL_KEYS):
        absent = [key for key in UNIMODAL_LABEL_KEYS.values() if key not in unimodal]
        raise where.error(absent[0], f"unimodal labels must come all three or none; found only {unimodal}")
    values = {key: np.asarray(split_raw[key]) for key in (*REQUIRED_KEYS, *unimodal)}
    _check_shapes_and_dtypes(values, where)

    arrays = {"id": values["id"].astype(str), "text_bert": _token_array(values["text_bert"], where)}
    non_finite = {}
    for key in FEATURE_KEYS:
        arrays[key], non_finite[key] = _feature_array(values[key], where, key)
        length_key = LENGTH_KEYS[key]
        arrays[length_key] = _length_array(values[length_key], arrays[key].shape[1], where, length_key)
    arrays["label"] = _label_array(values["regression_labels"], label_range, where, "regression_labels")
    for name, key in UNIMODAL_LABEL_KEYS.items():
        if key in values:
            arrays[name] = _label_array(values[key], label_range, where, key)
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
    for key, array in values.items():
        if array.ndim == 0 or array.shape[0] != n_samples:
            raise where.error(key, f"shape {array.shape} does not start with the {n_samples} samples of 'id'")
        if key not in ("id", "raw_text") and not np.issubdtype(array.dtype, np.number):
            raise where.error(key, f"must hold numbers, got dtype {array.dtype}")


def _token_array(text_bert: np.ndarray, where: _Where) -> np.ndarray:
    if text_bert.ndim != 3 or text_bert.shape[1] != 3:
        raise where.error("text_bert", f"must have shape (N, 3, L_t), got {text_bert.shape}")
    if not np.array_equal(text_bert, np.round(text_bert)) or (text_bert.size and text_bert.min() < 0):
        raise where.error("text_bert", "token ids, masks and segment ids must be non-negative integers")
    return text_bert.astype(np.int64, copy=False)


def _feature_array(features: np.ndarray, where: _Where, key: str) -> tuple[np.ndarray, int]:
    if features.ndim != 3:
        raise where.error(key, f"must have shape (N, L, D), got {features.shape}")
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
    return lengths.astype(np.int64, copy=False)


def _label_array(labels: np.ndarray, label_range: tuple[float, float], where: _Where, key: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # (N, 1) -> (N,)
    if labels.ndim != 1:
        raise where.error(key, f"labels must have shape (N,) or (N, 1), got {labels.shape}")
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
        unimodal, expected_unimodal = "label_T" in data.arrays, "label_T" in reference.arrays
        if unimodal != expected_unimodal:
            raise where.error(
                UNIMODAL_LABEL_KEYS["label_T"],
                f"unimodal labels present: {unimodal}, but in split '{reference_split}': {expected_unimodal}",
            )
    _check_unique_ids(parsed, source)


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
        "label": arrays["label"],
    }
    columns.update({name: arrays[name] for name in UNIMODAL_LABEL_KEYS if name in arrays})
    columns["text_length"] = arrays["text_bert"][:, 1, :].sum(axis=1)
    columns["vision_length"] = arrays["vision_lengths"]
    columns["audio_length"] = arrays["audio_lengths"]
    return pd.DataFrame(columns)


def _report(parsed: dict[str, _ParsedSplit], source: str) -> dict[str, Any]:
    labels = np.concatenate([data.arrays["label"] for data in parsed.values()])
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
        "has_unimodal_labels": "label_T" in next(iter(parsed.values())).arrays,
    }
