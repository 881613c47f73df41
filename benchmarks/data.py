"""Deterministic landing files (Parquet) for the benchmarks.

Each day's rows depend only on (seed, day, rows, features): the pipeline and the bare script read
the very same files, and two benchmark runs of one size see the same data.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGET = "target"


def days_from(first: str, count: int) -> list[str]:
    start = dt.date.fromisoformat(first)
    return [(start + dt.timedelta(days=k)).isoformat() for k in range(count)]


def day_frame(day: str, first: str, rows: int, features: int, seed: int = 0) -> pd.DataFrame:
    """Features ~ N(0, 1) plus a binary target a forest learns to ~0.9 accuracy.

    Seeded by the day's offset from `first`, not by its date, so a workload dated relative to
    today still sees the same rows every run. Learnable on purpose: the gate (accuracy >= 0.8)
    must pass, so every run does the whole cycle, deploy included.
    """
    offset = (dt.date.fromisoformat(day) - dt.date.fromisoformat(first)).days
    rng = np.random.default_rng([seed, offset])
    x = rng.normal(size=(rows, features))
    weights = np.linspace(2.0, 0.1, features) * np.where(np.arange(features) % 2, -1.0, 1.0)
    logits = x @ weights + 0.8 * x[:, 0] * x[:, 1 % features]
    labels = (logits + rng.logistic(scale=0.4, size=rows) > 0).astype("int64")
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(features)])
    frame[TARGET] = labels
    return frame


def land(directory: Path, day: str, frame: pd.DataFrame, mtime: float | None = None) -> Path:
    """Write a day's file as an uploader should: a hidden name first, then an atomic rename.

    `mtime` backdates the file (bulk history uploads), so the sensor's settle delay is not what
    a backfill measures; a sensor-latency landing keeps the real time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{day}.parquet"
    staging = directory / f".{day}.parquet.part"
    frame.to_parquet(staging, index=False)
    if mtime is not None:
        os.utime(staging, (mtime, mtime))
    staging.rename(path)
    return path


def write_days(
    directory: Path, days: list[str], first: str, rows: int, features: int, seed: int = 0
) -> int:
    """Land every day (backdated, as a bulk upload); returns the total number of rows written."""
    backdated = time.time() - 60
    for day in days:
        land(directory, day, day_frame(day, first, rows, features, seed), mtime=backdated)
    return rows * len(days)


def frame_mb(rows: int, features: int) -> float:
    """In-memory size of `rows` rows: float64 features plus an int64 target."""
    return rows * (features + 1) * 8 / 2**20
