"""The machine learning: window, fit, model file, metrics, gate (no Dagster)."""
