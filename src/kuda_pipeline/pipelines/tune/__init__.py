"""Hyperparameter search for stage 2 on Ray Tune (``conf/base/parameters_tune.yml``)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
