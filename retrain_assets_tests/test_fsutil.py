"""fsutil.py: the one atomic-write helper (whole or not at all, durable when asked), JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from retrain_assets import fsutil
from retrain_assets.fsutil import dump_json, write_atomic


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_atomic_creates_parents_and_replaces_content(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "file.json"
    write_atomic(path, b"first")
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert files_in(path.parent) == ["file.json"]


@pytest.mark.parametrize(("step", "error"), [("replace", "disk went away"), ("fsync", "I/O error")])
def test_a_failed_step_keeps_old_content_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, error: str
) -> None:
    # replace: the rename that publishes the file; fsync: the write before it.
    path = tmp_path / "current.json"
    write_atomic(path, b"old")

    def broken(*_args: object) -> None:
        raise OSError(error)

    monkeypatch.setattr(fsutil.os, step, broken)
    with pytest.raises(OSError, match=error):
        write_atomic(path, b"new content")
    assert path.read_bytes() == b"old"
    assert files_in(tmp_path) == ["current.json"]


def test_only_durable_writes_wait_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = fsutil.os.fsync
    monkeypatch.setattr(fsutil.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    write_atomic(tmp_path / "card.json", b"kept")
    assert len(synced) == 2  # the file, then its folder's entry
    synced.clear()
    write_atomic(tmp_path / "model.skops", b"working file", durable=False)
    assert synced == [] and (tmp_path / "model.skops").read_bytes() == b"working file"
    assert files_in(tmp_path) == ["card.json", "model.skops"]  # renamed whole, no temp left


def test_interrupt_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.bin"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsutil.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, b"data")
    assert files_in(tmp_path) == []


def test_dump_json_is_stable() -> None:
    assert dump_json({"b": 1, "a": [1, 2]}) == dump_json({"a": [1, 2], "b": 1})
    assert json.loads(dump_json({"when": pd.Timestamp("2026-03-05")})) == {
        "when": "2026-03-05 00:00:00"
    }


def test_write_atomic_fsyncs_the_file_and_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(fsutil.os, "fsync", recording_fsync)
    write_atomic(tmp_path / "f.json", b"{}")
    assert len(synced) == 2
    assert Path(synced[0]).parent == tmp_path and Path(synced[0]).name.startswith(".f.json.")
    assert synced[1] == str(tmp_path)


def test_parquet_written_in_slices_reads_back_as_the_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frame larger than one slice: every slice is a row group, and the file reads back as
    # the frame, with its dtypes (a categorical day column, string labels); an empty frame as
    # pandas' own writer gives it back (an empty file keeps no categories).
    monkeypatch.setattr(fsutil, "PARQUET_CHUNK_ROWS", 4)
    frame = pd.DataFrame(
        {
            "a": [0.5, None, 2.0, 3.25, 4.0, 5.0, 6.0, 7.5, 8.0, 9.0],
            "label": ["x", "y"] * 5,
            "n": range(10),
            "day": pd.Categorical(["d1"] * 6 + ["d2"] * 4, categories=["d1", "d2", "d3"]),
        }
    )
    path = fsutil.write_parquet(frame.iloc[3:].reset_index(drop=True), tmp_path / "f.parquet")
    assert pq.ParquetFile(path).num_row_groups == 2
    pd.testing.assert_frame_equal(fsutil.read_parquet(path), frame.iloc[3:].reset_index(drop=True))

    empty = fsutil.write_parquet(frame.iloc[:0], tmp_path / "empty.parquet")
    frame.iloc[:0].to_parquet(tmp_path / "pandas.parquet", index=False)
    pd.testing.assert_frame_equal(
        fsutil.read_parquet(empty), pd.read_parquet(tmp_path / "pandas.parquet")
    )
