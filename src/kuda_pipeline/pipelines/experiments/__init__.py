"""Experiments: the grid of dataset × variant × seed (Tables 3-7, Figures 5-6, Table 8 of the paper)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
