"""The MMSA data contract: split names, modality codes, and the keys of the pickle and of the split arrays.

Two layouts share most keys. The MMSA processed pickle (``RAW_*``) holds per split ``regression_labels``
and, for the CH-SIMS pair, ``regression_labels_T/_V/_A``; the validated split arrays written by
ingestion (and the columns of the samples table) call them ``label`` and ``label_T/_V/_A``. Both
unimodal mappings are keyed by the modality code.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

SPLITS = ("train", "valid", "test")
MODALITIES = ("t", "v", "a")  # text, vision, audio
MODALITY_NAMES = {"t": "text", "v": "vision", "a": "audio"}

TEXT_KEY = "text_bert"  # (N, 3, L_t): token ids, attention mask, segment ids
FEATURE_KEYS = ("vision", "audio")  # each (N, L_m, D_m)
LENGTH_KEYS = {"vision": "vision_lengths", "audio": "audio_lengths"}  # feature key -> (N,) valid steps

RAW_LABEL_KEY = "regression_labels"
RAW_UNIMODAL_LABEL_KEYS = {m: f"regression_labels_{m.upper()}" for m in MODALITIES}
LABEL_KEY = "label"
UNIMODAL_LABEL_KEYS = {m: f"label_{m.upper()}" for m in MODALITIES}

# Labels are float32 on a 0.2 grid: two distances closer than this are a tie (Appendix A, case figures).
TIE_MARGIN = 1e-6

SplitArrays = Mapping[str, Mapping[str, np.ndarray]]  # split -> key -> (N, ...) array
