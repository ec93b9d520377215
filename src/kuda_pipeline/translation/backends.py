"""Translator backends: a seq2seq model (a local directory or a hub id), or a precomputed table.

A backend has a ``name`` (its kind) and a ``model_identity`` (which model or file, exactly), so
that cached translations are reused only when both match.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
from transformers.utils import cached_file

from kuda_pipeline.pretrained import check_available, pretrained_source
from kuda_pipeline.training.device import resolve_device

logger = logging.getLogger(__name__)

IDENTITY_HASH_LENGTH = 12
PRECOMPUTED_COLUMNS = ("id", "text_en")


@runtime_checkable
class Translator(Protocol):
    """Anything that turns a list of source texts into target texts, one for one and in order."""

    name: str
    model_identity: str

    def translate(self, texts: list[str], ids: Sequence[str] | None = None) -> list[str]:
        """Translations of ``texts``; ``ids`` (same length) only name the samples in error messages."""
        ...


class Seq2SeqTranslator:
    """A Hugging Face encoder-decoder (e.g. a MarianMT zh→en model): a local directory or a hub id.

    ``model`` is a directory (``save_pretrained`` layout) or a hub id such as ``Helsinki-NLP/opus-mt-zh-en``,
    read through the Hugging Face cache (downloaded on first use unless ``HF_HUB_OFFLINE=1``).
    ``model_identity`` is the directory name or the id, and a hash of its ``config.json`` (weights are not
    hashed: keep one directory per model). Generation is batched, greedy by default
    (``num_beams=1``); ``generate_kwargs`` go to ``model.generate``. Sources longer than the
    tokenizer's maximum length are truncated. ``device`` takes "auto", "cpu", "cuda" or "cuda:N".
    """

    name = "seq2seq"

    def __init__(
        self,
        model: str | Path,
        device: str = "cpu",
        batch_size: int = 16,
        max_new_tokens: int = 128,
        num_beams: int = 1,
        **generate_kwargs: Any,
    ) -> None:
        settings = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "num_beams": num_beams}
        for setting, value in settings.items():
            if value < 1:
                raise ValueError(f"{setting} must be >= 1, got {value}")
        source = model if isinstance(model, Path) else pretrained_source(model)
        if isinstance(source, Path):
            _check_model_files(source)
        else:
            check_available(source, "the translation model (translation.seq2seq.model)")
        self.device = resolve_device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(source)
        except (OSError, ValueError) as error:
            reason = str(error).splitlines()[0]
            raise FileNotFoundError(f"cannot load a seq2seq model and tokenizer from {source}: {reason}") from error
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.generate_kwargs = {"max_new_tokens": max_new_tokens, "num_beams": num_beams, **generate_kwargs}
        if isinstance(source, Path):
            label, config_path = source.resolve().name, source / "config.json"
        else:
            label, config_path = source, Path(cached_file(source, "config.json"))
        config_hash = hashlib.sha256(config_path.read_bytes()).hexdigest()[:IDENTITY_HASH_LENGTH]
        self.model_identity = f"{label}-{config_hash}"

    def translate(self, texts: list[str], ids: Sequence[str] | None = None) -> list[str]:
        """Translations of ``texts`` in order; an empty or whitespace-only text is a ValueError."""
        check_texts(texts, ids)
        starts = range(0, len(texts), self.batch_size)
        translations: list[str] = []
        for start in tqdm(starts, desc=f"translating ({self.model_identity})", unit="batch", disable=None):
            translations.extend(self._translate_batch(texts[start : start + self.batch_size]))
        logger.info("translated %d text(s) with %s", len(texts), self.model_identity)
        return translations

    def _translate_batch(self, texts: list[str]) -> list[str]:
        encoded = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(self.device)
        with torch.inference_mode():
            generated = self.model.generate(**encoded, **self.generate_kwargs)  # (B, target length)
        return self.tokenizer.batch_decode(generated, skip_special_tokens=True)


class PrecomputedTranslator:
    """Translations read from a table with columns ``id`` and ``text_en`` (e.g. the authors' files).

    ``model_identity`` hashes the table's content, so an edited file invalidates cached rows.
    Rows whose ``text_en`` is missing or blank count as absent.
    """

    name = "precomputed"

    def __init__(self, table: pd.DataFrame) -> None:
        missing = [column for column in PRECOMPUTED_COLUMNS if column not in table.columns]
        if missing:
            raise ValueError(f"precomputed translations lack column(s) {missing}; they have {list(table.columns)}")
        duplicated = table["id"][table["id"].duplicated()].unique().tolist()
        if duplicated:
            raise ValueError(f"precomputed translations list {len(duplicated)} id(s) twice, e.g. {duplicated[:10]}")
        usable = table["text_en"].map(lambda text: isinstance(text, str) and bool(text.strip()))
        self.translations: dict[str, str] = dict(
            zip(table["id"][usable].astype(str), table["text_en"][usable], strict=True)
        )
        content_hash = hashlib.sha256(repr(sorted(self.translations.items())).encode()).hexdigest()
        self.model_identity = f"precomputed-{content_hash[:IDENTITY_HASH_LENGTH]}"

    def translate_ids(self, ids: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """(translations found, by id; the ids absent from the table, in the order given)."""
        found = {sample_id: self.translations[sample_id] for sample_id in ids if sample_id in self.translations}
        return found, [sample_id for sample_id in ids if sample_id not in self.translations]


def _check_model_files(model_path: Path) -> None:
    """FileNotFoundError naming the directory when it lacks a config, weights or tokenizer files."""
    if not model_path.is_dir():
        raise FileNotFoundError(f"no seq2seq model directory at {model_path}")
    expected = {
        "config.json": ["config.json"],
        "weights (*.safetensors or *.bin)": ["*.safetensors", "*.bin"],
        "tokenizer (tokenizer.json or tokenizer_config.json)": ["tokenizer.json", "tokenizer_config.json"],
    }
    missing = [what for what, patterns in expected.items() if not any(any(model_path.glob(p)) for p in patterns)]
    if missing:
        raise FileNotFoundError(f"incomplete seq2seq model directory {model_path}: no {', no '.join(missing)}")


def check_texts(texts: Sequence[str], ids: Sequence[str] | None = None) -> None:
    """ValueError naming the ids (or positions) of empty, blank or non-string texts."""
    if ids is not None and len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids given for {len(texts)} texts")
    blank = [index for index, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if blank:
        where = f"ids {[ids[index] for index in blank[:10]]}" if ids is not None else f"positions {blank[:10]}"
        raise ValueError(f"{len(blank)} empty or blank source text(s) cannot be translated, at {where}")
