"""Where each day's labelled rows come from: a landing directory, or the built-in demo stream."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from retrain_assets.validation import NoDataError, read_table, validate_day

DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|parquet)$")


@dataclass(frozen=True)
class LandingFile:
    day: str
    path: Path
    mtime_ns: int
    size: int

    @property
    def version(self) -> str:
        """Identifies one version of the file: a rewrite changes it, a re-scan does not."""
        return f"{self.mtime_ns}-{self.size}"


@dataclass(frozen=True)
class LandingScan:
    files: dict[str, list[LandingFile]]  # day -> files for that day (normally exactly one)
    ignored: list[tuple[str, str]]  # (file name, why it was ignored)


def parse_day(text: str) -> str | None:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def scan_landing_dir(directory: Path, start_date: str | None = None) -> LandingScan:
    files: dict[str, list[LandingFile]] = {}
    ignored: list[tuple[str, str]] = []
    if not directory.is_dir():
        return LandingScan(files, [(str(directory), "landing directory does not exist")])
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name.startswith(".") or not entry.is_file():
            continue  # hidden files are how uploaders stage partial writes
        match = DAY_FILE.match(name)
        day = parse_day(match.group(1)) if match else None
        if day is None:
            ignored.append((name, "name is not YYYY-MM-DD.csv or YYYY-MM-DD.parquet"))
            continue
        if start_date and day < start_date:
            ignored.append((name, f"day is before RETRAIN_START_DATE {start_date}"))
            continue
        stat = entry.stat()
        files.setdefault(day, []).append(LandingFile(day, entry, stat.st_mtime_ns, stat.st_size))
    return LandingScan(files, ignored)


class DataSource(Protocol):
    def load(self, day: str) -> tuple[pd.DataFrame, str]:
        """Validated rows for `day` and a label naming where they came from."""
        ...


@dataclass(frozen=True)
class LandingDirSource:
    directory: Path
    target: str
    min_rows: int

    def load(self, day: str) -> tuple[pd.DataFrame, str]:
        candidates = [self.directory / f"{day}.csv", self.directory / f"{day}.parquet"]
        present = [p for p in candidates if p.is_file()]
        if not present:
            raise NoDataError(
                f"no data for {day}: neither {candidates[0].name} nor {candidates[1].name} "
                f"in {self.directory}"
            )
        if len(present) > 1:
            raise NoDataError(
                f"ambiguous data for {day}: both {present[0]} and {present[1]} exist; keep one"
            )
        path = present[0]
        frame = validate_day(
            read_table(path), source=str(path), target=self.target, min_rows=self.min_rows
        )
        return frame, str(path)


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

    def load(self, day: str) -> tuple[pd.DataFrame, str]:
        label = f"demo stream {day}"
        frame = validate_day(
            demo_day(day, self.target), source=label, target=self.target, min_rows=self.min_rows
        )
        return frame, label


def make_source(data_dir: Path | None, target: str, min_rows: int) -> DataSource:
    if data_dir is None:
        return DemoSource(target, min_rows)
    return LandingDirSource(data_dir, target, min_rows)
