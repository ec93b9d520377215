"""Model library (no Kedro inside)."""
