"""Evaluation of the selected stage-2 model on the test split (MMSA metrics)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
