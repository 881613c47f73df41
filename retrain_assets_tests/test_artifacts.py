"""artifacts.py: the pipeline's own files per day, written whole and read back.

Raw rows, the judged model, the evaluation and the outcome; a missing one is named.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retrain_assets import artifacts, fsutil
from retrain_assets.artifacts import ArtifactStore, DayRecord


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


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
