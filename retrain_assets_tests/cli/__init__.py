"""Tests of the retrain-assets console script."""
