"""Every RETRAIN_* setting, parsed once from the environment when the code location loads.

A bad value fails the load with a message naming the variable, instead of surfacing later as a
confusing error inside a run.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path | None  # None: the built-in demo stream
    registry_dir: Path
    storage_dir: Path
    target_column: str
    start_date: str
    window_days: int
    accuracy_threshold: float
    max_regression: float
    model_name: str
    schedule_cron: str
    sensor_interval_s: int
    holdout_fraction: float
    min_rows_per_day: int
    min_train_rows: int
    min_holdout_rows: int  # the gate's minimum evidence
    refit: bool  # publish the candidate refitted on its whole window
    keep_versions: int  # 0: keep every version
    auto_rollback: bool
    max_file_mb: int
    max_rows_per_day: int
    late_data_alert: bool


def dagster_home(env: Mapping[str, str]) -> Path:
    # `make dev` sets DAGSTER_HOME; a bare `dagster dev` from the repo root falls back here too.
    return Path(env.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home")


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _number(env: Mapping[str, str], name: str, default: str, kind: type, lo: float, hi: float):
    raw = _get(env, name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={raw!r} must be between {lo} and {hi}")
    return value


def _flag(env: Mapping[str, str], name: str, default: str) -> bool:
    raw = _get(env, name, default).lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"{name}={raw!r} must be true or false")
    return raw in ("true", "1", "yes")


def model_name_problem(name: str) -> str | None:
    """Why `name` cannot be a registry folder name, or None."""
    if "/" in name or name.startswith(".") or "\x00" in name:
        return "must be a plain directory name"
    if len(name.encode()) > 100:
        return "is longer than 100 bytes; choose a short folder name"
    return None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    home = dagster_home(env)
    start_date = _get(env, "RETRAIN_START_DATE", "2026-01-01")
    try:
        # Normalised: Python also accepts 20260101 or 2026-W01-4, but partitions and windows
        # compare YYYY-MM-DD strings.
        start_date = dt.date.fromisoformat(start_date).isoformat()
    except ValueError:
        raise SettingsError(
            f"RETRAIN_START_DATE={start_date!r} is not a date (expected YYYY-MM-DD)"
        ) from None
    if start_date > dt.datetime.now(dt.UTC).date().isoformat():
        raise SettingsError(
            f"RETRAIN_START_DATE={start_date!r} is in the future: its first daily partition "
            "does not exist yet (set the first day you have data for)"
        )
    target_column = _get(env, "RETRAIN_TARGET_COLUMN", "target")
    if target_column == "timestamp":
        raise SettingsError(
            "RETRAIN_TARGET_COLUMN='timestamp' names the column that orders rows, not a label"
        )
    data_dir = env.get("RETRAIN_DATA_DIR", "").strip()
    model_name = _get(env, "RETRAIN_MODEL_NAME", "classifier")
    problem = model_name_problem(model_name)
    if problem:
        raise SettingsError(f"RETRAIN_MODEL_NAME={model_name!r} {problem}")
    if data_dir and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise SettingsError(f"RETRAIN_DATA_DIR={data_dir!r} is a file, not a directory")
    return Settings(
        data_dir=Path(data_dir) if data_dir else None,
        registry_dir=Path(_get(env, "RETRAIN_REGISTRY_DIR", str(home / "model_registry"))),
        storage_dir=Path(_get(env, "RETRAIN_STORAGE_DIR", str(home / "retrain_storage"))),
        target_column=target_column,
        start_date=start_date,
        window_days=_number(env, "RETRAIN_WINDOW_DAYS", "14", int, 1, 3660),
        accuracy_threshold=_number(env, "RETRAIN_ACCURACY_THRESHOLD", "0.8", float, 0.0, 1.0),
        max_regression=_number(env, "RETRAIN_MAX_REGRESSION", "0.02", float, 0.0, 1.0),
        model_name=model_name,
        schedule_cron=_get(env, "RETRAIN_SCHEDULE_CRON", "0 1 * * *"),
        sensor_interval_s=_number(env, "RETRAIN_SENSOR_INTERVAL_SECONDS", "30", int, 1, 86_400),
        holdout_fraction=_number(env, "RETRAIN_HOLDOUT_FRACTION", "0.2", float, 0.01, 0.9),
        min_rows_per_day=_number(env, "RETRAIN_MIN_ROWS_PER_DAY", "10", int, 1, 10**9),
        min_train_rows=_number(env, "RETRAIN_MIN_TRAIN_ROWS", "50", int, 2, 10**12),
        min_holdout_rows=_number(env, "RETRAIN_MIN_HOLDOUT_ROWS", "50", int, 0, 10**9),
        refit=_flag(env, "RETRAIN_REFIT", "true"),
        keep_versions=_number(env, "RETRAIN_KEEP_VERSIONS", "30", int, 0, 10**6),
        auto_rollback=_flag(env, "RETRAIN_AUTO_ROLLBACK", "false"),
        max_file_mb=_number(env, "RETRAIN_MAX_FILE_MB", "256", int, 1, 10**6),
        max_rows_per_day=_number(env, "RETRAIN_MAX_ROWS_PER_DAY", "1000000", int, 1, 10**10),
        late_data_alert=_flag(env, "RETRAIN_LATE_DATA_ALERT", "true"),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once. A bad value is also printed as one line on stderr
    first: Dagster reports a code location that fails to load as a long traceback."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise reported(exc) from None


def reported(exc: SettingsError) -> SettingsError:
    """The error, printed first as one line on stderr (see settings())."""
    print(f"retrain-assets: invalid setting: {exc}", file=sys.stderr, flush=True)
    return exc
