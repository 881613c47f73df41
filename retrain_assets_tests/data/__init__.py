"""Tests of retrain_assets.data."""
