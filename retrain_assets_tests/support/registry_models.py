"""A registry of small real models, deployed as the pipeline would, for the serving and CLI
tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.model_file import model_to_bytes
from retrain_assets.registry import ModelRegistry

FEATURES = ["f0", "f1", "f2"]
TARGET = "label"


def labelled_rows(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Rows whose label depends on f0 only: a model that swaps columns scores badly."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)) * [1.0, 5.0, 0.1], columns=FEATURES)
    frame[TARGET] = np.where(frame["f0"] > 0, "up", "down")
    return frame


def deploy_models(root: Path, days: list[str], name: str = "classifier") -> ModelRegistry:
    """One model per day (different seeds, so different files), each made live in turn."""
    registry = ModelRegistry(root, name)
    for seed, day in enumerate(days):
        rows = labelled_rows(seed=seed)
        pipeline = build_pipeline("random_forest", {"n_estimators": 5, "random_state": seed})
        pipeline.fit(rows[FEATURES].to_numpy(), rows[TARGET].to_numpy())
        card = {
            "metrics": {"accuracy": 0.9},
            "estimator": "random_forest",
            "features": FEATURES,
            "target": TARGET,
            "classes": [str(c) for c in pipeline.classes_],
        }
        registry.deploy(model_to_bytes(pipeline), card, partition=day, run_id=f"run-{day}")
    return registry
