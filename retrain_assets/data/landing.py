"""The landing directory: which day files are there, and reading one day from it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from retrain_assets.data.validation import (
    DataValidationError,
    NoDataError,
    read_table,
    validate_day,
)

MIB = 2**20

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
    refused_days: set[str] = field(default_factory=set)  # days whose file the service refuses


def parse_day(text: str) -> str | None:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def scan_landing_dir(directory: Path, start_date: str | None = None) -> LandingScan:
    files: dict[str, list[LandingFile]] = {}
    ignored: list[tuple[str, str]] = []
    refused: set[str] = set()
    if not directory.is_dir():
        return LandingScan(files, [(str(directory), "landing directory does not exist")])
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name.startswith("."):
            continue  # hidden files are how uploaders stage partial writes
        match = DAY_FILE.match(name)
        day = parse_day(match.group(1)) if match else None
        if entry.is_symlink():
            ignored.append((name, "a symbolic link: landing files must be regular files"))
            if day is not None:
                refused.add(day)
            continue
        if not entry.is_file():
            if day is not None:
                ignored.append((name, "not a regular file (a directory? a pipe?)"))
                refused.add(day)
            continue
        if day is None:
            ignored.append((name, "name is not YYYY-MM-DD.csv or YYYY-MM-DD.parquet"))
            continue
        if start_date and day < start_date:
            ignored.append((name, f"day is before RETRAIN_START_DATE {start_date}"))
            continue
        stat = entry.stat()
        files.setdefault(day, []).append(LandingFile(day, entry, stat.st_mtime_ns, stat.st_size))
    return LandingScan(files, ignored, refused)


@dataclass(frozen=True)
class FileLimits:
    """How big a day's file may be (RETRAIN_MAX_FILE_MB, RETRAIN_MAX_ROWS_PER_DAY), checked
    before it is read whole."""

    max_bytes: int = 256 * MIB
    max_rows: int = 1_000_000


@dataclass(frozen=True)
class LandingDirSource:
    directory: Path
    target: str
    min_rows: int
    limits: FileLimits = FileLimits()
    kind = "landing"

    def _checked(self, path: Path) -> Path:
        """The file, if it is a regular file of the landing directory within the limits."""
        if path.is_symlink():
            raise DataValidationError(
                f"{path}: a symbolic link; landing files must be regular files in "
                f"{self.directory} (RETRAIN_DATA_DIR), copy the file instead"
            )
        size = path.stat().st_size
        if size > self.limits.max_bytes:
            raise DataValidationError(
                f"{path}: {size / MIB:.1f} MiB, over the limit of "
                f"{self.limits.max_bytes / MIB:g} MiB per file (RETRAIN_MAX_FILE_MB)"
            )
        return path

    def load(self, day: str) -> tuple[pd.DataFrame, str]:
        if not self.directory.is_dir():
            raise DataValidationError(
                f"the landing directory {self.directory} (RETRAIN_DATA_DIR) does not exist"
            )
        candidates = [self.directory / f"{day}.csv", self.directory / f"{day}.parquet"]
        for path in candidates:
            if path.exists() and not path.is_symlink() and not path.is_file():
                raise DataValidationError(
                    f"{path}: not a regular file (a directory? a pipe?); a day's data is one "
                    "CSV or Parquet file"
                )
        present = [p for p in candidates if p.is_file() or p.is_symlink()]
        if not present:
            raise NoDataError(
                f"no data for {day}: neither {candidates[0].name} nor {candidates[1].name} "
                f"in {self.directory}"
            )
        if len(present) > 1:
            raise DataValidationError(
                f"ambiguous data for {day}: both {present[0]} and {present[1]} exist; keep one"
            )
        path = self._checked(present[0])
        frame = validate_day(
            read_table(path, self.limits.max_rows),
            source=str(path),
            target=self.target,
            min_rows=self.min_rows,
        )
        return frame, str(path)
