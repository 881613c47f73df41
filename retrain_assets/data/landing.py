"""The landing directory: which day files are there, and reading one day from it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from retrain_assets.data.validation import (
    DataValidationError,
    NoDataError,
    read_table,
    validate_day,
)

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
            raise DataValidationError(
                f"ambiguous data for {day}: both {present[0]} and {present[1]} exist; keep one"
            )
        path = present[0]
        frame = validate_day(
            read_table(path), source=str(path), target=self.target, min_rows=self.min_rows
        )
        return frame, str(path)
