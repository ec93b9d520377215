"""Training library (no Kedro inside)."""
