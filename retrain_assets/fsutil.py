"""Files that appear whole or not at all: the one atomic-write helper, JSON and Parquet I/O."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
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


def write_atomic(path: Path, data: bytes | Callable[[Path], None], *, durable: bool = True) -> Path:
    """Write `path` so that readers see the old content or the new, never a part.

    `data` is the bytes to write, or a function that writes the file it is given (e.g. Parquet).
    `durable=False` skips the fsyncs, for a large working file that can be rebuilt: the rename
    still never shows a part, but a power cut may lose the file (fsyncing 37 MB costs ~0.05 s
    of CPU).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
            if durable:
                with open(tmp, "rb+") as handle:
                    os.fsync(handle.fileno())
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
        # mkstemp creates 0600; models and records are read by other users of the host too.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def dump_json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


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


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as Parquet, atomically."""

    def write(tmp: Path) -> None:
        frame.to_parquet(tmp, index=False)

    write_atomic(path, write)
    release_arrow_memory()
    return path
