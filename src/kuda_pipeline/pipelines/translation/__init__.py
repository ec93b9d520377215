"""Chinese → English translation of a knowledge source, and its assembly into a target's stage-1 corpus."""

from .pipeline import create_assembly_pipeline, create_translation_pipeline

__all__ = ["create_assembly_pipeline", "create_translation_pipeline"]
