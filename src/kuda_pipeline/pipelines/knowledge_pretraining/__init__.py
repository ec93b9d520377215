"""Stage 1: knowledge-injection pretraining, one checkpoint per modality."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
