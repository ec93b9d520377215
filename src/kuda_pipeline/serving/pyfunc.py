"""A trained KuDA (stage 2) as an MLflow pyfunc model, self-contained for ``mlflow models serve``.

The pickled model holds the stage-2 config and state dict (BERT weights included) and the BERT config as
plain values; loading rebuilds BERT from that config alone, so no checkpoint directory or hub access is needed
where the model is served. Only the ``kuda_pipeline`` package must be importable there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from numpy.typing import ArrayLike
from transformers import AutoConfig, AutoModel

from kuda_pipeline.data.contract import LENGTH_KEYS
from kuda_pipeline.data.dataset import padding_mask
from kuda_pipeline.evaluation.metrics import METRIC_FUNCTIONS
from kuda_pipeline.model.config import KudaConfig
from kuda_pipeline.model.kuda import KuDA
from kuda_pipeline.training.device import resolve_device

logger = logging.getLogger(__name__)

CHUNK_SIZE = 64
ID_KEY = "id"


class InvalidModelInput(MlflowException, ValueError):
    """A request the model cannot read; the scoring server answers HTTP 400 with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def sample_shapes(config: KudaConfig) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of each input array the model reads (MMSA split layout without the N axis)."""
    return {
        "text_bert": (3, config.text_length),
        "vision": (config.vision_length, config.vision_dim),
        "audio": (config.audio_length, config.audio_dim),
    }


def _columns(model_input: pd.DataFrame | Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    """Arrays by name: a DataFrame's cells (nested lists, one row per sample) stacked, or a mapping's values."""
    if not isinstance(model_input, (pd.DataFrame, Mapping)):
        raise ValueError(
            f"model input must be a pandas DataFrame or a mapping of arrays, got {type(model_input).__name__}"
        )
    columns = {}
    for key in model_input:
        values = model_input[key].tolist() if isinstance(model_input, pd.DataFrame) else model_input[key]
        try:
            columns[key] = np.asarray(values)
        except ValueError as error:
            raise ValueError(f"input {key!r} is ragged: its samples have different shapes ({error})") from error
    return columns


def _with_batch_axis(key: str, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(N, *shape) as given, or (*shape) for one sample made (1, *shape); else a ValueError naming both shapes."""
    if array.shape == shape:
        array = array[None]  # (*shape) -> (1, *shape)
    if array.shape[1:] != shape:
        raise ValueError(
            f"input {key!r} has shape {array.shape}; the model expects (N, {', '.join(map(str, shape))}) "
            f"or {shape} for one sample"
        )
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ValueError(f"input {key!r} must hold finite numbers, got dtype {array.dtype} or nan/inf values")
    return array


def _lengths(key: str, columns: Mapping[str, np.ndarray], size: int, max_length: int) -> np.ndarray:
    """(N,) int64 valid lengths from `columns[key]` (a scalar for one sample), or all `max_length` when absent."""
    if key not in columns:
        return np.full(size, max_length, dtype=np.int64)
    lengths = columns[key].reshape(-1)  # () or (N,) or (N, 1) -> (N,)
    if lengths.shape != (size,):
        raise ValueError(f"input {key!r} has {lengths.size} value(s) for {size} sample(s)")
    if not np.issubdtype(lengths.dtype, np.number) or np.any(lengths != np.round(lengths)) or np.any(
        (lengths < 0) | (lengths > max_length)
    ):
        raise ValueError(f"input {key!r} must hold integers in [0, {max_length}], got {lengths.tolist()}")
    return lengths.astype(np.int64)


def model_arrays(
    model_input: pd.DataFrame | Mapping[str, ArrayLike], config: KudaConfig, vocab_size: int
) -> dict[str, np.ndarray]:
    """Validated (N, ...) arrays in the split layout: text_bert int64, vision/audio float32, lengths, optional id."""
    columns, shapes = _columns(model_input), sample_shapes(config)
    missing = [key for key in shapes if key not in columns]
    if missing:
        raise ValueError(f"model input lacks key(s) {missing}; found {sorted(columns)}")
    arrays = {key: _with_batch_axis(key, columns[key], shape) for key, shape in shapes.items()}
    sizes = {key: len(array) for key, array in arrays.items()}
    size = sizes["text_bert"]
    if len(set(sizes.values())) != 1 or size == 0:
        raise ValueError(f"model input needs the same number (>= 1) of samples in every array, got {sizes}")
    token_ids = arrays["text_bert"][:, 0]
    if token_ids.min() < 0 or token_ids.max() >= vocab_size:
        raise ValueError(
            f"input 'text_bert' token ids must be in [0, {vocab_size}), "
            f"got min {token_ids.min()}, max {token_ids.max()}"
        )
    arrays["text_bert"] = arrays["text_bert"].astype(np.int64)
    for key, length_key in LENGTH_KEYS.items():
        arrays[key] = arrays[key].astype(np.float32)
        arrays[length_key] = _lengths(length_key, columns, size, shapes[key][0])
    if ID_KEY in columns:
        arrays[ID_KEY] = columns[ID_KEY].reshape(-1)  # () or (N,) -> (N,)
        if arrays[ID_KEY].shape != (size,):
            raise ValueError(f"input 'id' has {arrays[ID_KEY].size} value(s) for {size} sample(s)")
    return arrays


def _inputs(arrays: Mapping[str, np.ndarray], rows: slice, device: torch.device) -> dict[str, torch.Tensor]:
    """Rows `rows` of validated arrays as the keyword inputs of `KuDA.forward`, on `device`."""
    inputs = {"text": torch.from_numpy(arrays["text_bert"][rows])}  # (B, 3, L_t)
    for key, length_key in LENGTH_KEYS.items():
        features = torch.from_numpy(arrays[key][rows])  # (B, L_m, D_m)
        inputs[key] = features
        inputs[f"{key}_mask"] = padding_mask(torch.from_numpy(arrays[length_key][rows]), features.shape[1])
    return {name: tensor.to(device) for name, tensor in inputs.items()}


class KudaPyfuncModel(mlflow.pyfunc.PythonModel):
    """Sentiment scores of a trained KuDA for MMSA-layout input.

    `fusion_state`: the stage-2 dict {"config", "state_dict"} of `train_fusion` (BERT weights included);
    `bert_config`: the text encoder's `config.to_dict()`; `scheme`: the metric scheme of the training data
    ("sims": scores in [-1, 1], "mosi": [-3, 3]), kept as `self.scheme` for consumers; `device`: "auto", "cpu"
    or "cuda[:N]", resolved where the model is loaded; `input_example`: a few samples logged beside the model
    (not pickled into it).
    """

    def __init__(
        self,
        fusion_state: Mapping[str, Any],
        bert_config: Mapping[str, Any],
        scheme: str,
        device: str = "auto",
        input_example: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        missing = [key for key in ("config", "state_dict") if key not in fusion_state]
        if missing:
            raise ValueError(f"fusion_state lacks key(s) {missing}; found {sorted(fusion_state)}")
        if scheme not in METRIC_FUNCTIONS:
            raise ValueError(f"unknown metric scheme {scheme!r}; valid schemes: {sorted(METRIC_FUNCTIONS)}")
        self.config = KudaConfig.from_dict(fusion_state["config"])
        self.weights = {key: value.detach().cpu() for key, value in fusion_state["state_dict"].items()}
        self.bert_config = dict(bert_config)
        self.scheme = scheme
        self.device = device
        self.input_example = dict(input_example) if input_example is not None else None
        self._model: KuDA | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the plain values and weights only; the module is rebuilt on load."""
        return {**self.__dict__, "_model": None, "input_example": None}

    def load_context(self, context: mlflow.pyfunc.PythonModelContext | None) -> None:
        """Rebuild BERT from its config, then KuDA, load every weight, eval mode, move to `self.device`."""
        bert = (
            AutoModel.from_config(AutoConfig.for_model(**self.bert_config), dtype=torch.float32)
            if "t" in self.config.modalities else None
        )
        model = KuDA(self.config, bert)
        model.load_state_dict(self.weights)
        device = resolve_device(self.device)
        self._model = model.eval().to(device)
        logger.info("KuDA for serving rebuilt on %s (scheme %r)", device, self.scheme)

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """One row per sample: `id` (when given), `sentiment`, `sentiment_<m>` per modality (unimodal scores).

        `model_input`: a DataFrame with one row per sample whose cells hold nested lists (what the scoring
        server makes of `dataframe_records`), or a mapping of arrays in the split layout (`inputs`):
        `text_bert` (N, 3, L_t), `vision` (N, L_v, D_v), `audio` (N, L_a, D_a), optional `vision_lengths`,
        `audio_lengths` (N,) (default: full length) and `id` (N,); one sample may drop the N axis.
        (The annotation names only the DataFrame: MLflow's type-hint checks reject a union.)
        An input the model cannot read raises `InvalidModelInput` (a `ValueError`) naming the key and the reason.
        """
        try:
            arrays = model_arrays(model_input, self.config, self.bert_config["vocab_size"])
        except ValueError as error:
            raise InvalidModelInput(str(error)) from error
        columns = self.outputs(arrays)
        return pd.DataFrame({ID_KEY: arrays[ID_KEY], **columns} if ID_KEY in arrays else columns)

    def outputs(self, arrays: Mapping[str, np.ndarray], with_attention: bool = False) -> dict[str, np.ndarray]:
        """Validated (N, ...) arrays (`model_arrays`) -> `sentiment`, `sentiment_<m>` (N,) and, `with_attention`
        (fusions with attention maps), `attention_<m>` (N, L_f): the attention each position of Ĥ_m receives,
        averaged over blocks and queries (rows sum to 1). Batches of `CHUNK_SIZE`."""
        if self._model is None:
            self.load_context(None)
        device = next(self._model.parameters()).device
        chunks: list[dict[str, torch.Tensor]] = []
        with torch.inference_mode():
            for start in range(0, len(arrays["text_bert"]), CHUNK_SIZE):
                inputs = _inputs(arrays, slice(start, start + CHUNK_SIZE), device)
                output = self._model(**inputs, return_attention=with_attention)
                unimodal = {f"sentiment_{m}": p for m, p in output.unimodal_predictions.items()}
                received = {f"attention_{m}": maps.mean(dim=(1, 2))  # (B, N blocks, L_f, L_f) -> (B, L_f)
                            for m, maps in (output.attention or {}).items()}
                chunks.append({"sentiment": output.prediction, **unimodal, **received})
        return {name: torch.cat([chunk[name] for chunk in chunks]).float().cpu().numpy() for name in chunks[0]}


def build_pyfunc_model(
    fusion_state: Mapping[str, Any],
    text_encoder_dir: Path | str,
    scheme: str,
    device: str = "auto",
    input_example: Mapping[str, np.ndarray] | None = None,
) -> KudaPyfuncModel:
    """A `KudaPyfuncModel` of the stage-2 state, with the BERT config read from `text_encoder_dir` (a directory or hub id; no weights)."""
    bert_config = AutoConfig.from_pretrained(text_encoder_dir)
    return KudaPyfuncModel(fusion_state, bert_config.to_dict(), scheme, device, input_example)
