"""Stand-ins for the four real MMSA pickles: the real files in everything but their values.

Split sizes, sequence lengths and feature sizes are those of the files the paper uses (MMSA's
``config_regression.json``, ``seq_lens``/``feature_dims`` in the order text, audio, vision; CH-SIMSv2 from
the ch-sims-v2 configuration; the authors' ``opts.py`` for CH-SIMS):

| dataset | file | train / valid / test | text | vision | audio | labels |
|---|---|---|---|---|---|---|
| ``sims`` | ``unaligned_39.pkl`` | 1,368 / 456 / 457 | 39 | 55 × 709 | 400 × 33 | [−1, 1] step 0.2, M + T/V/A |
| ``simsv2`` | ``unaligned.pkl`` | 2,722 / 647 / 1,034 | 50 | 232 × 177 | 925 × 25 | [−1, 1] step 0.2, M + T/V/A |
| ``mosi`` | ``unaligned_50.pkl`` | 1,284 / 229 / 686 | 50 | 375 × 20 | 500 × 5 | [−3, 3] step 0.2, M |
| ``mosei`` | ``unaligned_50.pkl`` | 16,326 / 1,871 / 4,659 | 50 | 500 × 35 | 500 × 74 | [−3, 3] step 1/3, M |

Values come from the synthetic generator (`kuda_pipeline.data.synthetic`, a planted sentiment signal).
The keys and quirks of the real files are kept: ``id``, ``raw_text`` and ``annotations`` as numpy object
arrays; ``text_bert`` (N, 3, L_t) as floats; ``regression_labels`` shaped (N, 1) for MOSI/MOSEI and (N,) for
the CH-SIMS pair; ``classification_labels`` (and ``_T/_V/_A`` with the unimodal labels); lengths as Python
lists for CH-SIMS; −inf steps in audio and, more rarely, vision; optionally ``text`` (N, L_t, 768), the BERT
features MMSA ships and KuDA does not read (off by default: 2.5 GB for MOSEI's train split).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kuda_pipeline.data.contract import RAW_LABEL_KEY, RAW_UNIMODAL_LABEL_KEYS
from kuda_pipeline.data.safe_pickle import write_mmsa_pickle
from kuda_pipeline.data.synthetic import SyntheticSpec, english_rendering_table, generate_corpus

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SPLITS = ("train", "valid", "test")
BERT_FEATURE_SIZE = 768
_VISION_INF_SHARE = 0.01
_ANNOTATIONS = np.array(["Negative", "Neutral", "Positive"], dtype=object)


@dataclass(frozen=True)
class RealFileShape:
    """What a real MMSA pickle looks like, apart from its values."""

    file_name: str
    split_sizes: tuple[int, int, int]  # train, valid, test
    text_length: int
    vision: tuple[int, int]  # (L_v, D_v)
    audio: tuple[int, int]  # (L_a, D_a)
    language: str
    label_range: tuple[float, float]
    label_step: float
    unimodal_labels: bool
    labels_2d: bool  # regression labels shaped (N, 1)
    lengths_as_lists: bool


REAL_FILES = {
    "sims": RealFileShape("unaligned_39.pkl", (1368, 456, 457), 39, (55, 709), (400, 33), "zh", (-1.0, 1.0), 0.2,
                          unimodal_labels=True, labels_2d=False, lengths_as_lists=True),
    "simsv2": RealFileShape("unaligned.pkl", (2722, 647, 1034), 50, (232, 177), (925, 25), "zh", (-1.0, 1.0), 0.2,
                            unimodal_labels=True, labels_2d=False, lengths_as_lists=False),
    "mosi": RealFileShape("unaligned_50.pkl", (1284, 229, 686), 50, (375, 20), (500, 5), "en", (-3.0, 3.0), 0.2,
                          unimodal_labels=False, labels_2d=True, lengths_as_lists=False),
    "mosei": RealFileShape("unaligned_50.pkl", (16326, 1871, 4659), 50, (500, 35), (500, 74), "en", (-3.0, 3.0),
                           1 / 3, unimodal_labels=False, labels_2d=True, lengths_as_lists=False),
}


def standin_spec(dataset: str, split_sizes: Mapping[str, int] | None = None, seed: int = 0) -> SyntheticSpec:
    """The generator settings of ``dataset``'s stand-in; ``split_sizes`` overrides the real counts."""
    if dataset not in REAL_FILES:
        raise ValueError(f"no real-file shape for {dataset!r}; known: {sorted(REAL_FILES)}")
    shape = REAL_FILES[dataset]
    sizes = dict(zip(SPLITS, shape.split_sizes, strict=True)) | dict(split_sizes or {})
    return SyntheticSpec(
        n_train=sizes["train"], n_valid=sizes["valid"], n_test=sizes["test"], text_length=shape.text_length,
        vision_length=shape.vision[0], vision_dim=shape.vision[1], audio_length=shape.audio[0],
        audio_dim=shape.audio[1], language=shape.language, label_range=shape.label_range,
        label_step=shape.label_step, unimodal_labels=shape.unimodal_labels, seed=seed,
    )


def generate_standin(
    dataset: str,
    tokenizer: "PreTrainedTokenizerBase",
    split_sizes: Mapping[str, int] | None = None,
    seed: int = 0,
    text_features: bool = False,
) -> tuple[dict[str, dict[str, object]], dict[str, str] | None]:
    """``dataset``'s stand-in as the MMSA dict {train, valid, test} and, for Chinese, the English rendering."""
    shape = REAL_FILES[dataset]
    data, english = generate_corpus(standin_spec(dataset, split_sizes, seed), tokenizer)
    rng = np.random.default_rng(seed + 1)
    return {split: _as_real_file(columns, shape, rng, text_features) for split, columns in data.items()}, english


def _as_real_file(columns: dict[str, np.ndarray], shape: RealFileShape, rng: np.random.Generator,
                  text_features: bool) -> dict[str, object]:
    """The generator's columns with the real file's extra keys, label shapes and quirks."""
    split: dict[str, object] = dict(columns)
    classes = columns["classification_labels"].astype(np.int64)  # (N,) 0 negative, 1 neutral, 2 positive
    split["annotations"] = _ANNOTATIONS[classes]
    labels = columns[RAW_LABEL_KEY].reshape(-1)  # (N, 1) -> (N,)
    split[RAW_LABEL_KEY] = labels[:, None] if shape.labels_2d else labels
    split["classification_labels"] = classes.astype(np.float32)
    if shape.unimodal_labels:
        for key in RAW_UNIMODAL_LABEL_KEYS.values():  # regression_labels_T -> classification_labels_T, ...
            classes = np.sign(np.round(columns[key], 6)) + 1
            split[key.replace("regression", "classification")] = classes.astype(np.float32)
    _plant_vision_infinity(rng, columns["vision"], columns["vision_lengths"])
    if shape.lengths_as_lists:
        split["vision_lengths"] = columns["vision_lengths"].tolist()
        split["audio_lengths"] = columns["audio_lengths"].tolist()
    if text_features:
        n_samples, text_length = len(labels), shape.text_length
        split["text"] = rng.standard_normal((n_samples, text_length, BERT_FEATURE_SIZE), dtype=np.float32)
    return split


def _plant_vision_infinity(rng: np.random.Generator, vision: np.ndarray, lengths: np.ndarray) -> None:
    """−inf at one valid step of a few samples' vision features, as some MMSA files have."""
    samples = np.flatnonzero(rng.random(len(vision)) < _VISION_INF_SHARE)
    steps = (rng.random(samples.size) * lengths[samples]).astype(np.int64)
    vision[samples, steps, rng.integers(0, vision.shape[2], size=samples.size)] = -np.inf


def write_standins(
    raw_dir: Path,
    tokenizer: "PreTrainedTokenizerBase",
    datasets: Iterable[str] = tuple(REAL_FILES),
    split_sizes: Mapping[str, int] | None = None,
    seed: int = 0,
    text_features: bool = False,
) -> dict[str, Path]:
    """Write each stand-in where ``conf/paper`` expects the real file (``<raw_dir>/<dataset>/<file>``), and for
    the Chinese ones the English rendering as ``translations_en.parquet`` (the precomputed translations)."""
    written = {}
    for dataset in datasets:
        data, english = generate_standin(dataset, tokenizer, split_sizes, seed, text_features)
        path = Path(raw_dir) / dataset / REAL_FILES[dataset].file_name
        write_mmsa_pickle(data, path)
        if english is not None:
            english_rendering_table(english).to_parquet(path.parent / "translations_en.parquet", index=False)
        written[dataset] = path
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m kuda_pipeline.data.standins``: write stand-ins where ``kedro run --env=paper`` reads the data."""
    import argparse
    import logging

    from transformers import AutoTokenizer

    from kuda_pipeline.pretrained import pretrained_source

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--raw-dir", type=Path, default=Path("data/01_raw"))
    parser.add_argument("--datasets", nargs="+", default=list(REAL_FILES), choices=list(REAL_FILES))
    parser.add_argument("--samples-per-split", type=int, help="the same count for every split (default: the real ones)")
    parser.add_argument("--tokenizer", default="embedded", help="a hub id or directory whose tokenizer makes text_bert")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    sizes = dict.fromkeys(SPLITS, args.samples_per_split) if args.samples_per_split else None
    tokenizer = AutoTokenizer.from_pretrained(pretrained_source(args.tokenizer))
    for dataset, path in write_standins(args.raw_dir, tokenizer, args.datasets, sizes, args.seed).items():
        logging.getLogger(__name__).info("%s stand-in written to %s", dataset, path)


if __name__ == "__main__":
    main()
