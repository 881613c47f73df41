"""Tests of retrain_assets.registry."""
