"""Evaluation library (no Kedro inside)."""
