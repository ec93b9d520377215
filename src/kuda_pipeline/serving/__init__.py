"""Serving: a trained KuDA as an MLflow pyfunc model (the only library package that imports mlflow)."""

from .pyfunc import InvalidModelInput, KudaPyfuncModel, build_pyfunc_model
from .registry import load_registered_model
from .signature import input_example, model_signature

__all__ = ["InvalidModelInput", "KudaPyfuncModel", "build_pyfunc_model", "input_example",
           "load_registered_model", "model_signature"]
