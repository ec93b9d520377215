"""Reads, validates and cleans an MMSA pickle into memory-mappable split arrays."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
