"""Translation of a corpus with reuse of earlier results: only new or changed texts are translated.

A cached row is reused when its id, its source text, its backend name and its model identity
all match; rows of ids no longer in the sources are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from kuda_pipeline.translation.backends import PrecomputedTranslator, Translator, check_texts

logger = logging.getLogger(__name__)

SOURCE_COLUMNS = ("id", "text")
TRANSLATION_COLUMNS = ("id", "source_text", "text_en", "backend", "model_identity")
LISTED_IDS = 10


def translate_dataset(
    sources: pd.DataFrame,
    cached: pd.DataFrame | None,
    backend: Translator | PrecomputedTranslator,
    build_fallback: Callable[[], Translator] | None = None,
) -> pd.DataFrame:
    """Columns id, source_text, text_en, backend, model_identity; one row per source, in source order.

    With a `PrecomputedTranslator`, ids absent from its table are translated by the translator that
    ``build_fallback`` returns, called only when some id is absent (logged with their count and first ids);
    without it they are a ValueError.
    """
    if build_fallback is not None and not isinstance(backend, PrecomputedTranslator):
        raise ValueError(f"a fallback translator only serves a precomputed backend, not {backend.name!r}")
    sources = _validated_sources(sources)
    reused = _reusable_rows(cached, sources, backend)
    pending = sources[~sources["id"].isin(reused["id"])]
    if isinstance(backend, PrecomputedTranslator):
        translated = _translate_precomputed(pending, cached, backend, build_fallback)
    else:
        translated = _translate_with(pending, backend)
    logger.info(
        "%d text(s): %d reused from the cache, %d looked up or translated now",
        len(sources), len(reused), len(translated),
    )
    translations = pd.concat([reused, translated], ignore_index=True)
    return sources[["id"]].merge(translations, on="id", how="left", validate="one_to_one")[list(TRANSLATION_COLUMNS)]


def _translate_precomputed(
    pending: pd.DataFrame,
    cached: pd.DataFrame | None,
    backend: PrecomputedTranslator,
    build_fallback: Callable[[], Translator] | None,
) -> pd.DataFrame:
    found, missing = backend.translate_ids(pending["id"].tolist())
    looked_up = _rows(pending[pending["id"].isin(list(found))], found, backend.name, backend.model_identity)
    if not missing:
        return looked_up
    if build_fallback is None:
        raise ValueError(
            f"{len(missing)} id(s) have no precomputed translation and no fallback translator is set: "
            f"{missing[:LISTED_IDS]}"
        )
    fallback = build_fallback()
    logger.warning(
        "%d id(s) have no precomputed translation, translated by %s instead: %s",
        len(missing), fallback.model_identity, missing[:LISTED_IDS],
    )
    absent = pending[pending["id"].isin(missing)]
    reused = _reusable_rows(cached, absent, fallback)
    logger.info("%d of them reused from earlier %s translations", len(reused), fallback.model_identity)
    fallback_translated = _translate_with(absent[~absent["id"].isin(reused["id"])], fallback)
    return pd.concat([looked_up, reused, fallback_translated], ignore_index=True)


def _translate_with(pending: pd.DataFrame, translator: Translator) -> pd.DataFrame:
    if pending.empty:
        return _rows(pending, {}, translator.name, translator.model_identity)
    ids, texts = pending["id"].tolist(), pending["text"].tolist()
    translations = translator.translate(texts, ids=ids)
    if len(translations) != len(texts):
        raise ValueError(f"{translator.name} returned {len(translations)} translation(s) for {len(texts)} text(s)")
    return _rows(pending, dict(zip(ids, translations, strict=True)), translator.name, translator.model_identity)


def _rows(sources: pd.DataFrame, translations: dict[str, str], name: str, identity: str) -> pd.DataFrame:
    return pd.DataFrame({
        "id": sources["id"].to_numpy(),
        "source_text": sources["text"].to_numpy(),
        "text_en": [translations[sample_id] for sample_id in sources["id"]],
        "backend": name,
        "model_identity": identity,
    }, columns=list(TRANSLATION_COLUMNS))


def _reusable_rows(
    cached: pd.DataFrame | None, sources: pd.DataFrame, translator: Translator | PrecomputedTranslator
) -> pd.DataFrame:
    """Rows of ``cached`` made by ``translator`` from the current text of one of ``sources``' ids."""
    if cached is None or cached.empty:
        return pd.DataFrame(columns=list(TRANSLATION_COLUMNS))
    missing = [column for column in TRANSLATION_COLUMNS if column not in cached.columns]
    if missing:
        raise ValueError(f"cached translations lack column(s) {missing}; they have {list(cached.columns)}")
    same_translator = (cached["backend"] == translator.name) & (cached["model_identity"] == translator.model_identity)
    candidates = cached.loc[same_translator, list(TRANSLATION_COLUMNS)].drop_duplicates("id", keep="last")
    current = candidates.merge(sources, on="id", how="inner")
    return current.loc[current["source_text"] == current["text"], list(TRANSLATION_COLUMNS)]


def _validated_sources(sources: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in SOURCE_COLUMNS if column not in sources.columns]
    if missing:
        raise ValueError(f"sources lack column(s) {missing}; they have {list(sources.columns)}")
    duplicated = sources["id"][sources["id"].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{len(duplicated)} source id(s) occur more than once, e.g. {duplicated[:LISTED_IDS]}")
    sources = sources[list(SOURCE_COLUMNS)].astype({"id": str}).reset_index(drop=True)
    check_texts(sources["text"].tolist(), sources["id"].tolist())
    return sources
