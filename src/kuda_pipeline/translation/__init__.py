"""Translation library (no Kedro inside)."""
