"""The pipeline's own storage between assets: Parquet days, trained models, evaluations.

Assets write here instead of through an IO manager because one run may carry many days (a
batched backfill), and every file is written atomically so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def release_arrow_memory() -> None:
    """Give memory that Arrow's pool holds back to the OS.

    pd.read_parquet hands out frames backed by Arrow's memory pool (and to_parquet converts
    through it), which keeps freed pages for reuse by Arrow only: after a window's days are
    read and dropped, that memory would stay resident through the fit, the run's memory peak.
    Measured on a 1M-row window: 85 MB kept after reading, 165 MB after the days are dropped.
    """
    pa.default_memory_pool().release_unused()


def read_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    release_arrow_memory()
    return frame


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)
    release_arrow_memory()


def dump_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


class ArtifactStore:
    """Files under RETRAIN_STORAGE_DIR, one per asset partition."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def raw_path(self, day: str) -> Path:
        return self.root / "raw_dataset" / f"{day}.parquet"

    def write_raw(self, day: str, frame: pd.DataFrame) -> Path:
        path = self.raw_path(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            write_parquet(frame, Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def read_raw(self, day: str) -> pd.DataFrame | None:
        path = self.raw_path(day)
        return read_parquet(path) if path.exists() else None

    def model_dir(self, day: str) -> Path:
        return self.root / "trained_model" / day

    def write_model(
        self, day: str, model_bytes: bytes, info: dict[str, Any], holdout: pd.DataFrame
    ) -> Path:
        # info.json is written last: its presence marks a complete trained model.
        directory = self.model_dir(day)
        (directory / "info.json").unlink(missing_ok=True)
        write_atomic(directory / "model.skops", model_bytes)
        tmp = directory / ".holdout.parquet.tmp"
        write_parquet(holdout, tmp)
        os.replace(tmp, directory / "holdout.parquet")
        write_atomic(directory / "info.json", dump_json(info))
        return directory

    def read_model(self, day: str) -> tuple[bytes, dict[str, Any], pd.DataFrame]:
        directory = self.model_dir(day)
        info_path = directory / "info.json"
        if not info_path.exists():
            raise FileNotFoundError(
                f"no trained model for {day} in {directory}: materialise trained_model first"
            )
        info = json.loads(info_path.read_text())
        return (
            (directory / "model.skops").read_bytes(),
            info,
            read_parquet(directory / "holdout.parquet"),
        )

    def evaluation_path(self, day: str) -> Path:
        return self.root / "evaluation_metrics" / f"{day}.json"

    def write_evaluation(self, day: str, evaluation: dict[str, Any]) -> Path:
        path = self.evaluation_path(day)
        write_atomic(path, dump_json(evaluation))
        return path

    def read_evaluation(self, day: str) -> dict[str, Any]:
        path = self.evaluation_path(day)
        if not path.exists():
            raise FileNotFoundError(
                f"no evaluation for {day} in {path}: materialise evaluation_metrics first"
            )
        return json.loads(path.read_text())
