"""Stage 2: dynamic-attention fusion training on the stage-1 knowledge."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
