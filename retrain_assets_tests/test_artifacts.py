"""retrain_assets.artifacts and fsutil: atomic writes and the pipeline's own files per day."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from retrain_assets import artifacts, fsutil
from retrain_assets.artifacts import ArtifactStore, DayRecord
from retrain_assets.fsutil import dump_json, write_atomic


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_write_atomic_creates_parents_and_replaces_content(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "file.json"
    write_atomic(path, b"first")
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert files_in(path.parent) == ["file.json"]


def test_failed_replace_keeps_old_content_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "current.json"
    write_atomic(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk went away")

    monkeypatch.setattr(fsutil.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk went away"):
        write_atomic(path, b"new content")
    assert path.read_bytes() == b"old"
    assert files_in(tmp_path) == ["current.json"]


def test_failure_while_writing_keeps_old_content_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "card.json"
    write_atomic(path, b"old")

    def broken_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(fsutil.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old"
    assert files_in(tmp_path) == ["card.json"]


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


def test_raw_round_trip(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    assert store.read_raw("2026-03-05") is None
    frame = pd.DataFrame({"a": [1.0, 2.0], "target": [0, 1]})
    path = store.write_raw("2026-03-05", frame)
    assert path == tmp_path / "raw_dataset" / "2026-03-05.parquet"
    pd.testing.assert_frame_equal(store.read_raw("2026-03-05"), frame)
    assert files_in(path.parent) == ["2026-03-05.parquet"]


def test_failed_raw_write_keeps_previous_day_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(tmp_path)
    old = pd.DataFrame({"a": [1.0], "target": [0]})
    store.write_raw("2026-03-05", old)
    monkeypatch.setattr(fsutil.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        store.write_raw("2026-03-05", pd.DataFrame({"a": [9.0, 9.0], "target": [1, 1]}))
    pd.testing.assert_frame_equal(store.read_raw("2026-03-05"), old)
    assert files_in(tmp_path / "raw_dataset") == ["2026-03-05.parquet"]


def test_model_round_trip(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    holdout = pd.DataFrame({"a": [0.5], "target": [1], "__day": ["2026-03-05"]})
    store.write_model("2026-03-05", b"model-bytes", {"sha256": "abc", "features": ["a"]}, holdout)
    model_bytes, info, loaded = store.read_model("2026-03-05")
    assert model_bytes == b"model-bytes"
    assert info == {"sha256": "abc", "features": ["a"]}
    pd.testing.assert_frame_equal(loaded, holdout)
    assert files_in(store.model_dir("2026-03-05")) == [
        "holdout.parquet",
        "info.json",
        "model.skops",
    ]


def test_read_model_when_missing_says_what_to_do(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        store.read_model("2026-03-05")
    message = str(info.value)
    assert "no trained model for 2026-03-05" in message
    assert str(store.model_dir("2026-03-05")) in message
    assert "materialise trained_model first" in message


def test_half_rewritten_model_reads_as_missing_not_as_a_mix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rewrite that dies after the new model file but before info.json must not pair the new
    # model with the old info (and its old sha256).
    store = ArtifactStore(tmp_path)
    holdout = pd.DataFrame({"a": [0.5], "target": [1]})
    store.write_model("2026-03-05", b"old", {"sha256": "old"}, holdout)
    real = artifacts.write_atomic
    calls = []

    def dies_on_info(path: Path, data: bytes, **options: bool) -> Path:
        calls.append(path.name)
        if path.name == "info.json":
            raise OSError("killed")
        return real(path, data, **options)

    monkeypatch.setattr(artifacts, "write_atomic", dies_on_info)
    with pytest.raises(OSError):
        store.write_model("2026-03-05", b"new", {"sha256": "new"}, holdout)
    assert calls == ["model.skops", "info.json"]
    with pytest.raises(FileNotFoundError, match="no trained model for 2026-03-05"):
        store.read_model("2026-03-05")


def test_evaluation_round_trip_and_missing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        store.read_evaluation("2026-03-05")
    assert "no evaluation for 2026-03-05" in str(info.value)
    assert "materialise evaluation_metrics first" in str(info.value)
    store.write_evaluation("2026-03-05", {"metrics": {"accuracy": 0.9}})
    assert store.read_evaluation("2026-03-05") == {"metrics": {"accuracy": 0.9}}


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


def test_outcome_records_say_how_a_day_ended_and_in_which_run(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    assert store.read_outcome("2026-03-05") is None
    store.write_outcome(DayRecord("2026-03-05", "run-1", "failed", "raw_dataset", "bad file"))
    record = store.read_outcome("2026-03-05")
    assert (record.outcome, record.stage, record.reason) == ("failed", "raw_dataset", "bad file")
    assert record.at  # stamped when written
    with pytest.raises(ValueError, match="unknown outcome 'crashed'"):
        store.write_outcome(DayRecord("2026-03-05", "run-2", "crashed", "x", "y"))
    assert store.read_outcome("2026-03-05").run_id == "run-1"


def test_drop_raw_forgets_a_day_and_tolerates_absence(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.write_raw("2026-03-05", pd.DataFrame({"a": [1.0], "target": [0]}))
    store.drop_raw("2026-03-05")
    assert store.read_raw("2026-03-05") is None
    store.drop_raw("2026-03-05")
