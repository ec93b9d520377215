"""Evaluation of the selected stage-2 model on the test split (MMSA metrics), and the comparison with the paper."""

from .pipeline import create_comparison_pipeline, create_pipeline

__all__ = ["create_comparison_pipeline", "create_pipeline"]
