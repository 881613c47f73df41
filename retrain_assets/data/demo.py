"""The built-in demo stream: each day's rows made from the date alone, drifting, some bad."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from retrain_assets.data.validation import validate_day

# The demo stream starts drifting from here, whatever RETRAIN_START_DATE is, so a day's rows
# depend on the date alone.
DEMO_EPOCH = dt.date(2026, 1, 1)
DEMO_FEATURES = ("f0", "f1", "f2", "f3", "f4", "f5")


def demo_is_bad_day(day: dt.date) -> bool:
    """About one day in twenty-five (never the first week) has a labelling fault.

    A faulty day stays in the holdout for two or three days, so the gate blocks that long.
    """
    if (day - DEMO_EPOCH).days < 7:
        return False
    return np.random.default_rng([int(day.strftime("%Y%m%d")), 7]).random() < 0.04


def demo_day(day: str, target: str = "target") -> pd.DataFrame:
    """A deterministic day of labelled rows with concept and covariate drift over time."""
    date = dt.date.fromisoformat(day)
    age = (date - DEMO_EPOCH).days
    rng = np.random.default_rng(int(date.strftime("%Y%m%d")))
    n = int(rng.integers(350, 450))
    # Covariate drift: feature means wander slowly. Concept drift: the decision boundary turns.
    shift = 0.004 * age * np.array([1.0, -0.5, 0.3, 0.0, 0.2, -0.1])
    features = rng.normal(size=(n, len(DEMO_FEATURES))) + shift
    angle = 0.01 * age
    weights = np.array([np.cos(angle), np.sin(angle), 0.6, -0.4, 0.0, 0.0]) * 2.0
    logits = features @ weights + 0.8 * features[:, 0] * features[:, 2]
    labels = (logits + rng.logistic(scale=0.35, size=n) > 0).astype("int64")
    if demo_is_bad_day(date):
        flip = rng.random(n) < 0.5
        labels = np.where(flip, 1 - labels, labels)
    seconds = np.sort(rng.uniform(0, 86_400, size=n))
    frame = pd.DataFrame(features, columns=list(DEMO_FEATURES))
    frame[target] = labels
    frame.insert(0, "timestamp", pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, "s"))
    return frame


@dataclass(frozen=True)
class DemoSource:
    target: str
    min_rows: int
    kind = "demo"

    def load(self, day: str) -> tuple[pd.DataFrame, str]:
        label = f"demo stream {day}"
        frame = validate_day(
            demo_day(day, self.target), source=label, target=self.target, min_rows=self.min_rows
        )
        return frame, label
