"""Embedded default corpora, generated in exactly the MMSA processed-pickle format.

Each sample gets unimodal labels y_t, y_v, y_a and a set of dominant modalities whose mean is
the multimodal label (see `_synthetic_labels`). Text carries y_t through sentiment words,
vision and audio carry y_m along a fixed random unit direction plus Gaussian noise over their
valid steps. The same seed gives the same corpus, byte for byte.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kuda_pipeline.data._synthetic_labels import draw_label_steps
from kuda_pipeline.data.contract import RAW_LABEL_KEY, RAW_UNIMODAL_LABEL_KEYS
from kuda_pipeline.data.knowledge_corpus import tokenize_text_bert
from kuda_pipeline.data._synthetic_text import check_vocabulary, draw_sentences

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_CLIPS_PER_VIDEO = 4
_GRID_TOLERANCE = 1e-6
_LANGUAGES = ("zh", "en")


@dataclass
class SyntheticSpec:
    """Sizes, label grid and planted structure of a synthetic corpus.

    `dominant_shares` are the shares of samples in which t, v, a are dominant (they may overlap,
    so they sum to more than 1); `noise_modality_share` is the share of samples with a modality
    whose polarity differs from the multimodal label's. `unimodal_labels` decides whether the
    output holds `regression_labels_T/_V/_A`; they are planted in the features either way.
    """

    n_train: int = 600
    n_valid: int = 150
    n_test: int = 150
    text_length: int = 39
    vision_length: int = 32
    vision_dim: int = 20
    audio_length: int = 48
    audio_dim: int = 16
    language: str = "zh"
    label_range: tuple[float, float] = (-1.0, 1.0)
    label_step: float = 0.2
    unimodal_labels: bool = True
    dominant_shares: tuple[float, float, float] = (0.55, 0.5, 0.5)
    noise_modality_share: float = 0.5
    noise_level: float = 0.5
    sentiment_words: int = 5
    audio_inf_share: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        self.label_range = tuple(float(bound) for bound in self.label_range)
        self.dominant_shares = tuple(float(share) for share in self.dominant_shares)
        sizes = {
            name: getattr(self, name)
            for name in ("n_train", "n_valid", "n_test", "text_length", "vision_length", "vision_dim",
                         "audio_length", "audio_dim", "sentiment_words")
        }
        too_small = {name: size for name, size in sizes.items() if size < 1}
        if too_small:
            raise ValueError(f"sizes must be >= 1, got {too_small}")
        if self.language not in _LANGUAGES:
            raise ValueError(f"language must be one of {_LANGUAGES}, got {self.language!r}")
        low, high = self.label_range
        if not low < 0 < high:
            raise ValueError(f"label_range must contain 0 strictly inside, got {self.label_range}")
        on_grid = [abs(bound / self.label_step - round(bound / self.label_step)) < _GRID_TOLERANCE
                   for bound in self.label_range] if self.label_step > 0 else [False]
        if not all(on_grid):
            raise ValueError(
                f"label_step must be > 0 and divide both bounds of {self.label_range}, got {self.label_step}"
            )
        if self.noise_level < 0 or not 0 <= self.audio_inf_share <= 1:
            raise ValueError(
                f"noise_level must be >= 0 and audio_inf_share in [0, 1], got {self.noise_level}, "
                f"{self.audio_inf_share}"
            )

    @property
    def step_range(self) -> tuple[int, int]:
        """The label bounds in grid steps."""
        low, high = self.label_range
        return round(low / self.label_step), round(high / self.label_step)

    @property
    def split_sizes(self) -> dict[str, int]:
        return {"train": self.n_train, "valid": self.n_valid, "test": self.n_test}


def generate_corpus(
    spec: SyntheticSpec, tokenizer: "PreTrainedTokenizerBase"
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str] | None]:
    """The MMSA dict {train, valid, test} and, for "zh", the English rendering {id: text}."""
    check_vocabulary(tokenizer, spec.language)
    rng = np.random.default_rng(spec.seed)
    n_samples = sum(spec.split_sizes.values())
    steps = draw_label_steps(rng, n_samples, spec.step_range, spec.dominant_shares, spec.noise_modality_share)
    low, high = spec.step_range
    sentences = draw_sentences(
        rng, steps.unimodal[:, 0], (-low, high), spec.sentiment_words, spec.text_length, spec.language
    )
    unimodal = _labels(steps.unimodal, spec.label_step)  # (N, 3): t, v, a
    vision, vision_lengths = _features(rng, unimodal[:, 1], spec.vision_length, spec.vision_dim, spec.noise_level)
    audio, audio_lengths = _features(rng, unimodal[:, 2], spec.audio_length, spec.audio_dim, spec.noise_level)
    _plant_negative_infinity(rng, audio, audio_lengths, spec.audio_inf_share)
    ids = [f"video_{g // _CLIPS_PER_VIDEO + 1:04d}$_${g % _CLIPS_PER_VIDEO + 1:04d}" for g in range(n_samples)]
    columns: dict[str, np.ndarray] = {
        "id": np.array(ids, dtype=object),
        "raw_text": np.array(sentences.text, dtype=object),
        "text_bert": tokenize_text_bert(sentences.text, tokenizer, spec.text_length).astype(np.float32),  # as MMSA
        "vision": vision,
        "audio": audio,
        "vision_lengths": vision_lengths,
        "audio_lengths": audio_lengths,
        RAW_LABEL_KEY: _labels(steps.multimodal, spec.label_step)[:, None],  # (N,) -> (N, 1)
        "classification_labels": np.sign(steps.multimodal) + 1,  # 0 negative, 1 neutral, 2 positive
    }
    if spec.unimodal_labels:
        columns.update({key: unimodal[:, j] for j, key in enumerate(RAW_UNIMODAL_LABEL_KEYS.values())})
    bounds = np.cumsum([0, *spec.split_sizes.values()])
    data = {
        split: {key: array[start:stop] for key, array in columns.items()}
        for split, start, stop in zip(spec.split_sizes, bounds[:-1], bounds[1:])
    }
    english = dict(zip(ids, sentences.english)) if spec.language == "zh" else None
    return data, english


def _labels(steps: np.ndarray, label_step: float) -> np.ndarray:
    return np.round(steps * label_step, 6).astype(np.float32)


def _features(
    rng: np.random.Generator, labels: np.ndarray, length: int, dim: int, noise_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """(N, length, dim) float32 features carrying `labels` along one unit direction, and (N,) lengths."""
    direction = rng.standard_normal(dim)
    direction = (direction / np.linalg.norm(direction)).astype(np.float32)
    lengths = rng.integers(math.ceil(length / 3), length + 1, size=len(labels))
    features = rng.standard_normal((len(labels), length, dim), dtype=np.float32)
    features *= np.float32(noise_level)  # in place: MOSEI-sized audio is 3.4 GB
    features += labels[:, None, None] * direction  # (N, 1, 1) * (dim,) -> (N, 1, dim), broadcast over steps
    features[np.arange(length) >= lengths[:, None]] = 0.0  # padding after the valid steps
    return features, lengths


def _plant_negative_infinity(
    rng: np.random.Generator, audio: np.ndarray, lengths: np.ndarray, share: float
) -> None:
    """Set one value inside the valid steps of a `share` of samples to -inf, as in MMSA's audio."""
    samples = np.flatnonzero(rng.random(len(audio)) < share)
    steps = (rng.random(samples.size) * lengths[samples]).astype(np.int64)
    audio[samples, steps, rng.integers(0, audio.shape[2], size=samples.size)] = -np.inf


def english_rendering_table(mapping: Mapping[str, str]) -> pd.DataFrame:
    """{id: English text} as a table with columns id, text_en."""
    return pd.DataFrame({"id": list(mapping), "text_en": list(mapping.values())}, columns=["id", "text_en"])
