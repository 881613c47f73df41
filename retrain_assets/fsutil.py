"""Files that appear whole or not at all: the one atomic-write helper, JSON and Parquet I/O."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


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


def release_heap_memory() -> None:
    """Give the C heap's freed pages back to the OS (glibc only; elsewhere a no-op).

    A fit's working arrays (a boosting's bins, gradients and row indices: about 70 MB on 1M
    rows) are freed into glibc's heap, which keeps them resident: they would add to the next
    step's peak (the holdout's Parquet file, the refit) without being used again.
    """
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _glibc()


def read_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    release_arrow_memory()
    return frame


# Rows converted to Arrow and encoded at a time: to_parquet converts a whole frame, then
# buffers its encoded row group, about twice the frame (77 MB for a 1M-row window's holdout).
PARQUET_CHUNK_ROWS = 65_536


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as Parquet, atomically, a slice of rows at a time (one row group each)."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema) as writer:
            for start in range(0, max(len(frame), 1), PARQUET_CHUNK_ROWS):
                chunk = frame.iloc[start : start + PARQUET_CHUNK_ROWS]
                writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))

    write_atomic(path, write)
    release_arrow_memory()
    return path
