"""A predictions table for new samples: scores, sentiment class, unimodal scores, dominant modality, attention."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from kuda_pipeline.evaluation.label_statistics import TIE_MARGIN
from kuda_pipeline.evaluation.metrics import SIMS_ACC3_EDGES
from kuda_pipeline.serving.pyfunc import KudaPyfuncModel, model_arrays

CLASSES = ("negative", "neutral", "positive")


def sentiment_classes(scores: np.ndarray, scheme: str) -> np.ndarray:
    """(N,) scores -> class names. `sims`: Acc-3's intervals [-1, -0.1], (-0.1, 0.1], (0.1, 1]; `mosi`: the
    sign of the score rounded as Acc-7 rounds it (|score| < 0.5 is neutral)."""
    if scheme == "sims":
        index = np.digitize(scores, np.asarray(SIMS_ACC3_EDGES, dtype=scores.dtype), right=True)
    else:
        index = np.sign(np.round(np.clip(scores, -3, 3))).astype(int) + 1
    return np.asarray(CLASSES)[index]


def dominant_modalities(prediction: np.ndarray, unimodal: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per sample the modality whose unimodal score is closest to the multimodal one ("t+v" within TIE_MARGIN),
    as Appendix A judges dominance with labels."""
    names = list(unimodal)
    distance = np.abs(np.column_stack([unimodal[m] for m in names]) - prediction[:, None])  # (N, M)
    dominant = distance <= distance.min(axis=1, keepdims=True) + TIE_MARGIN  # (N, M)
    return np.asarray(["+".join(m for m, flag in zip(names, row, strict=True) if flag) for row in dominant])


def attention_shares(attention: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per modality the share of the fusion's attention focus: focus_m = 1 - H(a_m) / log L_f of the attention its
    positions receive (0: spread evenly, 1: on one position), normalised over modalities to sum to 1."""
    focus = {}
    for m, received in attention.items():  # (N, L_f), rows sum to 1
        p = np.clip(received, 1e-12, None)
        focus[m] = np.clip(1.0 + (p * np.log(p)).sum(axis=1) / np.log(received.shape[1]), 0.0, 1.0)  # (N,)
    total = np.maximum(sum(focus.values()), 1e-12)
    return {m: values / total for m, values in focus.items()}


def prediction_table(model: KudaPyfuncModel, samples: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per sample: `id`, `prediction`, `sentiment_class`, `pred_<m>`, `dominant_modality` and, when the
    model's fusion is `daf`, `attention_share_<m>`. `samples`: split-layout arrays (validated again here)."""
    arrays = model_arrays(samples, model.config, model.bert_config["vocab_size"])
    daf = model.config.fusion == "daf"
    outputs = model.outputs(arrays, with_attention=daf)
    prediction = outputs["sentiment"]
    unimodal = {m: outputs[f"sentiment_{m}"] for m in model.config.modalities}
    columns = {
        "id": np.asarray(arrays["id"]).astype(str),
        "prediction": prediction,
        "sentiment_class": sentiment_classes(prediction, model.scheme),
        **{f"pred_{m}": values for m, values in unimodal.items()},
        "dominant_modality": dominant_modalities(prediction, unimodal),
    }
    if daf:
        shares = attention_shares({m: outputs[f"attention_{m}"] for m in model.config.modalities})
        columns.update({f"attention_share_{m}": values for m, values in shares.items()})
    return pd.DataFrame(columns)
