"""A growing corpus of hostile MMSA files, built in code: each one passed ingestion once and broke a later stage,
or could have.

``HOSTILE`` maps a case name to a ``Hostile``: ``build()`` returns the file's bytes; ``split`` and ``key`` are what
the rejection must name (None for a file that is not a readable pickle: then only the file is named) and
``match`` is a regex of what is wrong. The files imitate the ``synthetic_sims`` corpus read with the embedded
text encoder (vocabulary 30522, 512 positions, 2 segment types, padding id 0) and labels in [-1, 1].
``python tests/hostile_corpus.py DIR`` writes every file into DIR, to try one with ``kedro run`` by hand.
"""

from __future__ import annotations

import pickle
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VOCAB_SIZE = 30522
SIZES = {"train": 6, "valid": 3, "test": 3}
TEXT_LENGTH, VISION_SHAPE, AUDIO_SHAPE = 12, (5, 4), (6, 3)
SPLITS = tuple(SIZES)


def valid_mmsa(seed: int = 0) -> dict:
    """A small MMSA dict that ingestion accepts (right-padded text, unimodal labels, positive lengths)."""
    rng = np.random.default_rng(seed)
    raw, first = {}, 0
    for split, n in SIZES.items():
        text_lengths = rng.integers(3, TEXT_LENGTH + 1, size=n)  # (N,)
        mask = (np.arange(TEXT_LENGTH) < text_lengths[:, None]).astype(np.int64)  # (N, L_t)
        token_ids = rng.integers(1000, 2000, size=(n, TEXT_LENGTH)) * mask
        text_bert = np.stack([token_ids, mask, np.zeros_like(mask)], axis=1)  # (N, 3, L_t)
        raw[split] = {
            "id": np.array([f"video_{first + i:04d}$_$0001" for i in range(n)], dtype=object),
            "raw_text": np.array([f"{split} sentence {i}" for i in range(n)], dtype=object),
            "text_bert": text_bert,
            "vision": rng.standard_normal((n, *VISION_SHAPE)).astype(np.float32),
            "audio": rng.standard_normal((n, *AUDIO_SHAPE)).astype(np.float32),
            "vision_lengths": rng.integers(1, VISION_SHAPE[0] + 1, size=n),
            "audio_lengths": rng.integers(1, AUDIO_SHAPE[0] + 1, size=n),
            "regression_labels": rng.choice([-1.0, -0.2, 0.0, 0.4, 1.0], size=(n, 1)).astype(np.float32),
            **{f"regression_labels_{m}": rng.choice([-1.0, 0.0, 0.6], size=n) for m in "TVA"},
        }
        first += n
    return raw


@dataclass(frozen=True)
class Hostile:
    build: Callable[[], bytes]
    split: str | None
    key: str | None
    match: str


def _pickled(mutate: Callable[[dict], None]) -> Callable[[], bytes]:
    """A valid dict changed in place by `mutate`, pickled (protocol 4) as MMSA's files are."""
    def build() -> bytes:
        raw = valid_mmsa()
        mutate(raw)
        return pickle.dumps(raw, protocol=4)
    return build


def _set(split: str, key: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    def mutate(raw: dict) -> None:
        raw[split][key] = change(raw[split][key])
    return mutate


def _in_every_split(key: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict], None]:
    def mutate(raw: dict) -> None:
        for split in SPLITS:
            _set(split, key, change)(raw)
    return mutate


def _delete(split: str, key: str) -> Callable[[dict], None]:
    def mutate(raw: dict) -> None:
        del raw[split][key]
    return mutate


def _text_row(split: str, row: int, sample: int, position: int, value) -> Callable[[dict], None]:
    """``text_bert[sample, row, position] = value`` (row 0 token ids, 1 attention mask, 2 segment ids), as floats."""
    def change(text_bert: np.ndarray) -> np.ndarray:
        text_bert = text_bert.astype(np.float64)
        text_bert[sample, row, position] = value
        return text_bert
    return _set(split, "text_bert", change)


def _empty_split(split: str) -> Callable[[dict], None]:
    def mutate(raw: dict) -> None:
        raw[split] = {key: value[:0] for key, value in raw[split].items()}
    return mutate


def _duplicate_id(raw: dict) -> None:
    raw["test"]["id"][1] = raw["train"]["id"][0]


def _empty_train_with_duplicate_ids(raw: dict) -> None:
    _empty_split("train")(raw)
    raw["test"]["id"][0] = raw["valid"]["id"][0]


def _mask_longer_than_tokens(text_bert: np.ndarray) -> np.ndarray:
    text_bert = text_bert.copy()
    text_bert[1, 0, -1] = 0  # sample 1: the last position is padding ...
    text_bert[1, 1, :] = 1  # ... yet every position is attended
    return text_bert


def _mask_with_a_hole(text_bert: np.ndarray) -> np.ndarray:
    text_bert = text_bert.copy()
    text_bert[0, :2, 1] = 0  # sample 0: token 1 padded inside the text, mask 1 0 1 ...
    return text_bert


def _left_padded(text_bert: np.ndarray) -> np.ndarray:
    return text_bert[:, :, ::-1].copy()


def _text_of_600_tokens(text_bert: np.ndarray) -> np.ndarray:
    return np.concatenate([text_bert, np.zeros((len(text_bert), 3, 600 - TEXT_LENGTH), dtype=text_bert.dtype)], 2)


class _Declared:
    """Pickles as ``_reconstruct(ndarray, (2**30,), 'b')``: a 1 GiB array whose data the file does not hold."""

    def __reduce__(self):
        return np._core.multiarray._reconstruct, (np.ndarray, (2**30,), b"b")


class _RunsShell:
    def __reduce__(self):
        import os
        return os.system, ("echo hostile",)


def _valid_bytes() -> bytes:
    return pickle.dumps(valid_mmsa(), protocol=4)


def _npy_file() -> bytes:
    import io
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


_NOT_INTEGER = r"token ids: 1 value\(s\) are not finite integers, e.g. {}.*expected integers in \[0, 30522\)"
_OUTSIDE_VOCAB = r"token ids: 1 value\(s\) are out of range, e.g. {} in.*\[0, 30522\) \(the text encoder's vocabulary\)"
_NOT_REAL = r"must hold real numbers \(integer or float dtype\), got dtype {}"

HOSTILE: dict[str, Hostile] = {
    # files that are not a readable pickle: one line naming the file
    "empty_file": Hostile(lambda: b"", None, None, r"the file is empty \(0 bytes\)"),
    "text_file": Hostile(lambda: b"id,label\nvideo_0001,0.5\n", None, None, r"not a pickle file .*b'id,label'"),
    "zip_file": Hostile(lambda: b"PK\x03\x04" + bytes(60), None, None, r"not a pickle file .*b'PK\\x03\\x04"),
    "npy_file": Hostile(_npy_file, None, None, r"not a pickle file .*NUMPY"),
    "truncated": Hostile(lambda: _valid_bytes()[:700], None, None,
                         r"the pickle is truncated: its data stops after 700 bytes"),
    "last_byte_missing": Hostile(lambda: _valid_bytes()[:-1], None, None, r"the pickle is truncated"),
    "huge_bytes_object": Hostile(lambda: b"\x80\x04\x8e" + struct.pack("<Q", 2**60) + b"abc", None, None,
                                 r"unpickling ran out of memory: the 14-byte file declares an object far larger"),
    "array_data_not_in_file": Hostile(_pickled(lambda raw: raw["train"].update(vision=_Declared())), None, None,
                                      r"declares arrays of \d+ bytes in a \d+-byte file"),
    "unknown_protocol": Hostile(lambda: b"\x80\x09" + _valid_bytes()[2:], None, None,
                                r"corrupt pickle \(ValueError: unsupported pickle protocol: 9\)"),
    "code_in_pickle": Hostile(_pickled(lambda raw: raw["train"].update(vision=_RunsShell())), None, None,
                              r"refusing to load global '(posix|os|nt)\.system'"),
    "top_level_list": Hostile(lambda: pickle.dumps([valid_mmsa()], protocol=4), None, None,
                              r"top level must be a dict of splits, got list"),
    # token ids: finite integers below the vocabulary size
    "token_id_inf": Hostile(_pickled(_text_row("train", 0, 2, 1, np.inf)), "train", "text_bert",
                            _NOT_INTEGER.format("inf")),
    "token_id_nan": Hostile(_pickled(_text_row("valid", 0, 0, 0, np.nan)), "valid", "text_bert",
                            _NOT_INTEGER.format("nan")),
    "token_id_fraction": Hostile(_pickled(_text_row("test", 0, 1, 0, 1000.5)), "test", "text_bert",
                                 _NOT_INTEGER.format(r"1000\.5")),
    "token_id_1e20": Hostile(_pickled(_text_row("train", 0, 0, 0, 1e20)), "train", "text_bert",
                             _OUTSIDE_VOCAB.format(r"1e\+20")),
    "token_id_at_vocab_size": Hostile(_pickled(_text_row("test", 0, 2, 0, VOCAB_SIZE)), "test", "text_bert",
                                      _OUTSIDE_VOCAB.format("30522")),
    "token_id_negative": Hostile(_pickled(_text_row("valid", 0, 1, 0, -5)), "valid", "text_bert",
                                 _OUTSIDE_VOCAB.format("-5")),
    "segment_id_above_type_vocab": Hostile(_pickled(_text_row("train", 2, 3, 0, 2)), "train", "text_bert",
                                           r"segment ids: 1 value\(s\) are out of range, e.g. 2 in sample 3; "
                                           r"expected integers in \[0, 2\)"),
    "text_longer_than_positions": Hostile(_pickled(_in_every_split("text_bert", _text_of_600_tokens)), "train",
                                          "text_bert", r"600 tokens per sample, but the text encoder takes at most "
                                                       r"512"),
    # attention masks: 0/1, agreeing with the padding, ones then zeros
    "mask_value_2": Hostile(_pickled(_text_row("test", 1, 0, 0, 2)), "test", "text_bert",
                            r"attention mask: 1 value\(s\) are out of range, e.g. 2 in sample 0; expected 0 or 1"),
    "mask_value_half": Hostile(_pickled(_text_row("train", 1, 4, 0, 0.5)), "train", "text_bert",
                               r"attention mask: 1 value\(s\) are not finite integers, e.g. 0\.5 in sample 4; "
                               r"expected 0 or 1"),
    "mask_longer_than_tokens": Hostile(_pickled(_set("valid", "text_bert", _mask_longer_than_tokens)), "valid",
                                       "text_bert", r"attention mask disagrees with the token ids' padding in 1 "
                                                    r"sample\(s\), e.g. sample 1: mask length 12"),
    "mask_with_a_hole": Hostile(_pickled(_set("train", "text_bert", _mask_with_a_hole)), "train", "text_bert",
                                r"e.g. sample 0, is not ones then zeros; expected right-padded text"),
    "left_padded_text": Hostile(_pickled(_set("test", "text_bert", _left_padded)), "test", "text_bert",
                                r"is not ones then zeros"),
    # dtypes: real numbers only
    "complex_vision": Hostile(_pickled(_set("train", "vision", lambda v: v + 1j)), "train", "vision",
                              _NOT_REAL.format("complex")),
    "complex_labels": Hostile(_pickled(_set("test", "regression_labels", lambda y: y.astype(np.complex64))), "test",
                              "regression_labels", _NOT_REAL.format("complex64")),
    "complex_text_bert": Hostile(_pickled(_set("valid", "text_bert", lambda t: t.astype(np.complex128))), "valid",
                                 "text_bert", _NOT_REAL.format("complex128")),
    "bool_lengths": Hostile(_pickled(_set("train", "audio_lengths", lambda x: x > 0)), "train", "audio_lengths",
                            _NOT_REAL.format("bool")),
    "object_text_bert": Hostile(_pickled(_set("train", "text_bert", lambda t: t.astype(object))), "train", "text_bert",
                                _NOT_REAL.format("object")),
    # empty splits and lengths
    "empty_train": Hostile(_pickled(_empty_split("train")), "train", "id", r"the split is empty \(0 samples\)"),
    "empty_train_and_duplicate_ids": Hostile(_pickled(_empty_train_with_duplicate_ids), "train", "id",
                                             r"the split is empty \(0 samples\)"),
    "empty_test": Hostile(_pickled(_empty_split("test")), "test", "id", r"the split is empty"),
    "every_vision_length_zero": Hostile(_pickled(_set("valid", "vision_lengths", np.zeros_like)), "valid",
                                        "vision_lengths", r"every length in the split is 0; expected at least one "
                                                          r"sample with a length in \[1, 5\]"),
    "every_audio_length_zero": Hostile(_pickled(_set("train", "audio_lengths", np.zeros_like)), "train",
                                       "audio_lengths", r"every length in the split is 0"),
    "lengths_2d": Hostile(_pickled(_set("test", "vision_lengths", lambda x: x[:, None])), "test", "vision_lengths",
                          r"must be 1-D, got shape \(3, 1\)"),
    "no_vision_features": Hostile(_pickled(_in_every_split("vision", lambda v: v[:, :, :0])), "train", "vision",
                                  r"with L, D >= 1, got \(6, 5, 0\)"),
    # labels
    "nan_label": Hostile(_pickled(_set("valid", "regression_labels", lambda y: np.where(y == y[0], np.nan, y))),
                         "valid", "regression_labels", r"label\(s\) are not finite, e.g. in sample 0"),
    "unimodal_label_out_of_range": Hostile(_pickled(_set("test", "regression_labels_V", lambda y: y + 5)), "test",
                                           "regression_labels_V", r"label\(s\) outside \(-1.0, 1.0\)"),
    # layout
    "missing_key": Hostile(_pickled(_delete("valid", "audio")), "valid", "audio", r"missing"),
    "duplicate_ids": Hostile(_pickled(_duplicate_id), "test",
                             "id", r"occur more than once.*'video_0000\$_\$0001' in splits \['train', 'test'\]"),
}


def write_corpus(directory: Path) -> list[Path]:
    """Every hostile file as ``<directory>/<case>.pkl``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, case in HOSTILE.items():
        path = directory / f"{name}.pkl"
        path.write_bytes(case.build())
        paths.append(path)
    return paths


if __name__ == "__main__":
    written = write_corpus(Path(sys.argv[1]))
    print(f"{len(written)} hostile files in {sys.argv[1]}")
