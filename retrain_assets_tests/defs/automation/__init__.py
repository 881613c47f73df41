"""Tests of retrain_assets.defs.automation."""
