"""A trained model's view of the test split for the figures: representations (Figure 6) and attention (Table 8)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from kuda_pipeline.data.dataset import make_loader
from kuda_pipeline.model.kuda import KuDA
from kuda_pipeline.training.device import resolve_device

FUSED = "fused"
STORED_DECIMALS = 5  # representations and attention are LayerNorm-scale and probability values


@dataclass
class CellProbe:
    """Per test sample: ``outputs`` (label, prediction, pred_<m>, label_<m> columns of ``predict_split``),
    ``representations`` ("t"/"v"/"a": Ĥ_m, "fused": X_N, each mean-pooled, (N, d_f)) and ``attention``
    (m -> (N, L_f): the share of attention each position of Ĥ_m receives, averaged over blocks and queries;
    empty when the cell's fusion has no attention maps)."""

    ids: list[str]
    outputs: dict[str, np.ndarray]  # column -> (N,)
    representations: dict[str, np.ndarray]  # "t" | "v" | "a" | "fused" -> (N, d_f)
    attention: dict[str, np.ndarray]  # modality -> (N, L_f), each row sums to 1

    def to_record(self) -> dict[str, Any]:
        """Plain JSON values (arrays as nested lists, rounded to ``STORED_DECIMALS``)."""
        return {
            "ids": list(self.ids),
            "outputs": {name: values.tolist() for name, values in self.outputs.items()},
            "representations": _rounded(self.representations),
            "attention": _rounded(self.attention),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CellProbe:
        """Inverse of :meth:`to_record`."""
        return cls(
            ids=list(record["ids"]),
            outputs={name: np.asarray(values, dtype=np.float64) for name, values in record["outputs"].items()},
            representations={m: np.asarray(v, dtype=np.float32) for m, v in record["representations"].items()},
            attention={m: np.asarray(v, dtype=np.float32) for m, v in record["attention"].items()},
        )


def probe_model(
    model: KuDA, split: Mapping[str, np.ndarray], predictions: pd.DataFrame, batch_size: int, device: str = "auto"
) -> CellProbe:
    """One inference pass over ``split`` with attention maps; ``predictions`` is ``predict_split``'s table."""
    device = resolve_device(device)
    model.to(device).eval()
    representations: dict[str, list[np.ndarray]] = {}
    attention: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for batch in make_loader(split, batch_size, shuffle=False, seed=0):
            output = model(**batch.to(device).inputs, return_attention=True)
            for name, values in {**output.projected, FUSED: output.fused}.items():
                representations.setdefault(name, []).append(values.float().cpu().numpy())
            for m, maps in (output.attention or {}).items():
                received = maps.float().mean(dim=(1, 2))  # (B, N blocks, L_f, L_f) -> (B, L_f)
                attention.setdefault(m, []).append(received.cpu().numpy())
    outputs = {name: predictions[name].to_numpy(dtype=np.float64) for name in predictions.columns if name != "id"}
    return CellProbe(
        ids=[str(i) for i in predictions["id"]],
        outputs=outputs,
        representations={name: np.concatenate(chunks) for name, chunks in representations.items()},
        attention={m: np.concatenate(chunks) for m, chunks in attention.items()},
    )


def _rounded(arrays: Mapping[str, np.ndarray]) -> dict[str, list]:
    return {name: np.round(values.astype(np.float64), STORED_DECIMALS).tolist() for name, values in arrays.items()}
