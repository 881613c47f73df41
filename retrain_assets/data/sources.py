"""Where each day's labelled rows come from: a landing directory, or the built-in demo stream."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pandas as pd

from retrain_assets.data.demo import DemoSource
from retrain_assets.data.landing import FileLimits, LandingDirSource

# What a source is called where it is named to people.
SOURCE_NAMES = {"demo": "the demo stream", "landing": "the landing directory"}


def source_kind(data_dir: Path | None) -> str:
    """ "demo" or "landing": models and stored days of one kind never mix with the other's."""
    return "demo" if data_dir is None else "landing"


class DataSource(Protocol):
    kind: str

    def load(self, day: str) -> tuple[pd.DataFrame, str]:
        """Validated rows for `day` and a label naming where they came from."""
        ...


def make_source(
    data_dir: Path | None, target: str, min_rows: int, limits: FileLimits | None = None
) -> DataSource:
    if data_dir is None:
        return DemoSource(target, min_rows)
    return LandingDirSource(data_dir, target, min_rows, limits or FileLimits())
