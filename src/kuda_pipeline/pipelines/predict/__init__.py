"""Prediction on new samples (MMSA format, labels optional) with a trained model from the catalog or the registry."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
