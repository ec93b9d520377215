"""Appendix A: dominant-modality and noise-modality shares from the unimodal labels."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
