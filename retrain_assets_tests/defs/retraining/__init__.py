"""Tests of retrain_assets.defs.retraining."""
