"""What a served KuDA reads and returns, for MLflow: a tensor signature with the dataset's shapes, an input example."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, DataType, Schema, TensorSpec

from kuda_pipeline.model.config import KudaConfig

INPUT_DTYPES = {
    "id": np.dtype(object),
    "text_bert": np.dtype(np.int64),
    "vision": np.dtype(np.float32),
    "vision_lengths": np.dtype(np.int64),
    "audio": np.dtype(np.float32),
    "audio_lengths": np.dtype(np.int64),
}
EXAMPLE_ROWS = 2


def input_shapes(config: KudaConfig) -> dict[str, tuple[int, ...]]:
    """Shape of each input with -1 for the sample axis: the split arrays' layout."""
    return {
        "id": (-1,),
        "text_bert": (-1, 3, config.text_length),
        "vision": (-1, config.vision_length, config.vision_dim),
        "vision_lengths": (-1,),
        "audio": (-1, config.audio_length, config.audio_dim),
        "audio_lengths": (-1,),
    }


def model_signature(config: KudaConfig) -> ModelSignature:
    """Named tensors in, one row per sample out (`id`, the multimodal and the unimodal scores)."""
    inputs = Schema([TensorSpec(INPUT_DTYPES[name], shape, name) for name, shape in input_shapes(config).items()])
    modalities = [f"sentiment_{m}" for m in config.modalities]
    outputs = Schema([ColSpec(DataType.string, "id")] + [ColSpec(DataType.float, c) for c in ("sentiment", *modalities)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(split: Mapping[str, np.ndarray], rows: int = EXAMPLE_ROWS) -> dict[str, np.ndarray]:
    """The first `rows` samples of a split, each input in its signature dtype: a request the model accepts."""
    missing = [name for name in INPUT_DTYPES if name not in split]
    if missing:
        raise ValueError(f"split lacks key(s) {missing} of the serving input; found {sorted(split)}")
    return {name: np.asarray(split[name][:rows]).astype(dtype) for name, dtype in INPUT_DTYPES.items()}
