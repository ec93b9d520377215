"""Serving: a trained KuDA as an MLflow pyfunc model (the only library package that imports mlflow)."""

from .pyfunc import KudaPyfuncModel, build_pyfunc_model

__all__ = ["KudaPyfuncModel", "build_pyfunc_model"]
