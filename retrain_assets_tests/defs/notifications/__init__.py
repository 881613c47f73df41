"""Tests of retrain_assets.defs.notifications."""
