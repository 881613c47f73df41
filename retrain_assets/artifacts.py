"""The pipeline's own files between assets: each day's rows, model, evaluation and outcome.

Assets write here instead of through an IO manager because one run may carry many days (a
batched backfill). Every file is written atomically, so a reader never sees half of one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from retrain_assets.data.sources import source_kind
from retrain_assets.fsutil import dump_json, read_parquet, write_atomic, write_parquet

# What a day ends as, whatever launched it (DESIGN.md: one outcome vocabulary).
OUTCOMES = ("deployed", "superseded", "unchanged", "blocked", "failed", "skipped")
# Outcomes that are a decision about a candidate; re-running the same candidate repeats them.
DECIDED = ("deployed", "superseded", "unchanged", "blocked")


@dataclass(frozen=True)
class DayRecord:
    """How one day of one run ended, and where and why when it stopped early."""

    day: str
    run_id: str
    outcome: str
    stage: str  # the asset (or check) that decided it
    reason: str
    version: str | None = None
    at: str = ""
    # What the decision was made on (the candidate's sha256 and the gate's numbers): the same
    # key again means the same decision, so a re-run repeats it instead of deciding anew.
    decision_key: str | None = None
    repeated: bool = False  # True when this run repeated an earlier run's decision
    # The watch's line when the live model fell below the threshold on the day's rows.
    alert: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ArtifactStore:
    """Files under RETRAIN_STORAGE_DIR/<source kind>, one per asset partition."""

    @classmethod
    def for_source(cls, storage_dir: Path, data_dir: Path | None) -> ArtifactStore:
        # One folder per kind of source: after a switch from the demo to a landing directory,
        # no demo day is ever mixed into a window, nor taken for a decided day.
        return cls(Path(storage_dir) / source_kind(data_dir))

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---- raw_dataset ---------------------------------------------------------------------
    def raw_path(self, day: str) -> Path:
        return self.root / "raw_dataset" / f"{day}.parquet"

    def write_raw(self, day: str, frame: pd.DataFrame) -> Path:
        return write_parquet(frame, self.raw_path(day))

    def read_raw(self, day: str) -> pd.DataFrame | None:
        path = self.raw_path(day)
        return read_parquet(path) if path.exists() else None

    def drop_raw(self, day: str) -> None:
        """Forget a day whose data is gone or now invalid, so no later window trains on it."""
        self.raw_path(day).unlink(missing_ok=True)

    # ---- trained_model -------------------------------------------------------------------
    def model_dir(self, day: str) -> Path:
        return self.root / "trained_model" / day

    def write_model(
        self, day: str, model_bytes: bytes, info: dict[str, Any], holdout: pd.DataFrame
    ) -> Path:
        # info.json is written last: its presence marks a complete trained model.
        directory = self.model_dir(day)
        (directory / "info.json").unlink(missing_ok=True)
        # The judged model's working file, rebuilt by re-materialising: not fsynced (a power
        # cut may lose it, never half-show it). What the registry publishes is made durable.
        write_atomic(directory / "model.skops", model_bytes, durable=False)
        write_parquet(holdout, directory / "holdout.parquet")
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

    # ---- evaluation_metrics --------------------------------------------------------------
    def evaluation_path(self, day: str) -> Path:
        return self.root / "evaluation_metrics" / f"{day}.json"

    def write_evaluation(self, day: str, evaluation: dict[str, Any]) -> Path:
        return write_atomic(self.evaluation_path(day), dump_json(evaluation))

    def read_evaluation(self, day: str) -> dict[str, Any]:
        path = self.evaluation_path(day)
        if not path.exists():
            raise FileNotFoundError(
                f"no evaluation for {day} in {path}: materialise evaluation_metrics first"
            )
        return json.loads(path.read_text())

    # ---- outcomes ------------------------------------------------------------------------
    def outcome_path(self, day: str) -> Path:
        return self.root / "outcomes" / f"{day}.json"

    def write_outcome(self, record: DayRecord) -> DayRecord:
        if record.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {record.outcome!r}; expected one of {OUTCOMES}")
        if not record.at:
            at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            record = DayRecord(**{**record.as_dict(), "at": at})
        write_atomic(self.outcome_path(record.day), dump_json(record.as_dict()))
        return record

    def read_outcome(self, day: str) -> DayRecord | None:
        path = self.outcome_path(day)
        if not path.exists():
            return None
        return DayRecord(**json.loads(path.read_text()))

    def earlier_decision(self, day: str, decision_key: str) -> DayRecord | None:
        """The day's recorded decision if it was made on exactly this candidate and gate."""
        record = self.read_outcome(day)
        if record and record.decision_key == decision_key and record.outcome in DECIDED:
            return record
        return None
