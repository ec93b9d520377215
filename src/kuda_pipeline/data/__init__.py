"""Data library (no Kedro inside)."""
