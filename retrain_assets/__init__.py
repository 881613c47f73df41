"""retrain-assets: daily model retraining as Dagster software-defined assets."""

__version__ = "0.1.0"
