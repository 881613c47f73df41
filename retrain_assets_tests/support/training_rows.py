"""Small labelled days, windows and fits for the in-process ML tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrain_assets.ml import window
from retrain_assets.ml.fit import fit_window
from retrain_assets.ml.window import assemble_window

FAST = {"n_estimators": 5}  # random_forest, kept tiny


def day_rows(
    seed: int, n: int = 40, *, flip: bool = False, extra: dict | None = None
) -> pd.DataFrame:
    """One validated day: two float features, label = a + b > 0 (or its opposite)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    label = (a + b > 0).astype("int64")
    frame = pd.DataFrame({"a": a, "b": b, "target": 1 - label if flip else label})
    for column, value in (extra or {}).items():
        frame[column] = value
    return frame


def window_of(frames: dict[str, pd.DataFrame]) -> window.Window:
    days = sorted(frames)
    return assemble_window(frames, {d: f"/landing/{d}.csv" for d in days}, days, "target")


def fit(window: window.Window, **kwargs):
    options = {
        "target": "target",
        "holdout_fraction": 0.2,
        "min_train_rows": 10,
        "estimator": "random_forest",
        "params": FAST,
    }
    options.update(kwargs)
    return fit_window(window, **options)


# ---- windows -----------------------------------------------------------------------------
