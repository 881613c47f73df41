"""Tests of retrain_assets.ml."""
