"""Tests of retrain_assets.telegram."""
