"""Kedro datasets for the formats of this project (the only place, with nodes and hooks, that imports Kedro)."""

from .mlflow_grid_runs import MlflowGridRunsDataset
from .mmsa_pickle_dataset import MMSAPickleDataset
from .optional_parquet_dataset import OptionalParquetDataset
from .serving_model_dataset import KudaServingModelDataset
from .split_arrays_dataset import SplitArraysDataset
from .torch_state_dataset import TorchStateDataset

__all__ = [
    "KudaServingModelDataset",
    "MlflowGridRunsDataset", "MMSAPickleDataset", "OptionalParquetDataset", "SplitArraysDataset",
    "TorchStateDataset",
]
