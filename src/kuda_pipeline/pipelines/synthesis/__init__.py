"""Writes the embedded synthetic corpora in the MMSA format."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
