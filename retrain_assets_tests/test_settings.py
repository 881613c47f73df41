"""settings.py: defaults, every RETRAIN_* variable, errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retrain_assets.settings import SettingsError, load_settings
from retrain_assets_tests.support import dagster_env


def test_defaults_with_dagster_home(tmp_path: Path) -> None:
    s = load_settings({"DAGSTER_HOME": str(tmp_path)})
    assert s.data_dir is None  # the built-in demo stream
    assert s.registry_dir == tmp_path / "model_registry"
    assert s.storage_dir == tmp_path / "retrain_storage"
    assert s.target_column == "target"
    assert s.start_date == "2026-01-01"
    assert s.window_days == 14
    assert s.accuracy_threshold == 0.8
    assert s.max_regression == 0.02
    assert s.model_name == "classifier"
    assert s.schedule_cron == "0 1 * * *"
    assert s.sensor_interval_s == 30
    assert s.holdout_fraction == 0.2
    assert s.min_rows_per_day == 10
    assert s.min_train_rows == 50


def test_without_dagster_home_falls_back_under_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.registry_dir == tmp_path / ".dagster_home" / "model_registry"
    assert s.storage_dir == tmp_path / ".dagster_home" / "retrain_storage"


def test_every_variable_is_parsed(tmp_path: Path) -> None:
    env = {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "RETRAIN_DATA_DIR": str(tmp_path / "landing"),
        "RETRAIN_REGISTRY_DIR": str(tmp_path / "reg"),
        "RETRAIN_STORAGE_DIR": str(tmp_path / "store"),
        "RETRAIN_TARGET_COLUMN": "label",
        "RETRAIN_START_DATE": "2025-06-15",
        "RETRAIN_WINDOW_DAYS": "7",
        "RETRAIN_ACCURACY_THRESHOLD": "0.65",
        "RETRAIN_MAX_REGRESSION": "0.05",
        "RETRAIN_MODEL_NAME": "churn",
        "RETRAIN_SCHEDULE_CRON": "30 2 * * *",
        "RETRAIN_SENSOR_INTERVAL_SECONDS": "120",
        "RETRAIN_HOLDOUT_FRACTION": "0.25",
        "RETRAIN_MIN_ROWS_PER_DAY": "3",
        "RETRAIN_MIN_TRAIN_ROWS": "20",
    }
    s = load_settings(env)
    assert s.data_dir == tmp_path / "landing"
    assert s.registry_dir == tmp_path / "reg"
    assert s.storage_dir == tmp_path / "store"
    assert s.target_column == "label"
    assert s.start_date == "2025-06-15"
    assert s.window_days == 7 and isinstance(s.window_days, int)
    assert s.accuracy_threshold == 0.65
    assert s.max_regression == 0.05
    assert s.model_name == "churn"
    assert s.schedule_cron == "30 2 * * *"
    assert s.sensor_interval_s == 120
    assert s.holdout_fraction == 0.25
    assert s.min_rows_per_day == 3 and isinstance(s.min_rows_per_day, int)
    assert s.min_train_rows == 20 and isinstance(s.min_train_rows, int)


def test_blank_values_mean_default(tmp_path: Path) -> None:
    s = load_settings(
        {
            "DAGSTER_HOME": str(tmp_path),
            "RETRAIN_DATA_DIR": "  ",
            "RETRAIN_WINDOW_DAYS": "",
            "RETRAIN_TARGET_COLUMN": " ",
        }
    )
    assert s.data_dir is None
    assert s.window_days == 14
    assert s.target_column == "target"


def test_surrounding_whitespace_is_ignored(tmp_path: Path) -> None:
    s = load_settings({"DAGSTER_HOME": str(tmp_path), "RETRAIN_WINDOW_DAYS": " 21 "})
    assert s.window_days == 21


def test_start_date_in_compact_iso_form_is_normalised(tmp_path: Path) -> None:
    # Python accepts 20260301 as an ISO date; partitions and window arithmetic compare
    # YYYY-MM-DD strings, so the setting must come out in that form.
    s = load_settings({"DAGSTER_HOME": str(tmp_path), "RETRAIN_START_DATE": "20260301"})
    assert s.start_date == "2026-03-01"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RETRAIN_WINDOW_DAYS", "two weeks", "not a valid int"),
        ("RETRAIN_WINDOW_DAYS", "1.5", "not a valid int"),
        ("RETRAIN_WINDOW_DAYS", "0", "between"),
        ("RETRAIN_WINDOW_DAYS", "-3", "between"),
        ("RETRAIN_ACCURACY_THRESHOLD", "high", "not a valid float"),
        ("RETRAIN_ACCURACY_THRESHOLD", "1.5", "between"),
        ("RETRAIN_ACCURACY_THRESHOLD", "nan", "between"),
        ("RETRAIN_ACCURACY_THRESHOLD", "80%", "not a valid float"),
        ("RETRAIN_MAX_REGRESSION", "-0.1", "between"),
        ("RETRAIN_HOLDOUT_FRACTION", "0", "between"),
        ("RETRAIN_HOLDOUT_FRACTION", "0.95", "between"),
        ("RETRAIN_MIN_ROWS_PER_DAY", "0", "between"),
        ("RETRAIN_MIN_ROWS_PER_DAY", "ten", "not a valid int"),
        ("RETRAIN_MIN_TRAIN_ROWS", "1", "between"),
        ("RETRAIN_SENSOR_INTERVAL_SECONDS", "0", "between"),
        ("RETRAIN_SENSOR_INTERVAL_SECONDS", "30s", "not a valid int"),
        ("RETRAIN_START_DATE", "yesterday", "not a date"),
        ("RETRAIN_START_DATE", "2026-02-30", "not a date"),
        ("RETRAIN_MODEL_NAME", "a/b", "plain directory name"),
        ("RETRAIN_MODEL_NAME", "..", "plain directory name"),
        ("RETRAIN_START_DATE", "2999-01-01", "is in the future"),
        ("RETRAIN_TARGET_COLUMN", "timestamp", "orders rows, not a label"),
        ("RETRAIN_KEEP_VERSIONS", "-1", "between"),
        ("RETRAIN_AUTO_ROLLBACK", "maybe", "must be true or false"),
        ("RETRAIN_MAX_FILE_MB", "0", "between"),
        ("RETRAIN_MAX_ROWS_PER_DAY", "1e6", "not a valid int"),
        ("RETRAIN_MODEL_NAME", "m" * 300, "longer than 100 bytes"),
        ("RETRAIN_DATA_DIR", "/etc/passwd", "is a file, not a directory"),
    ],
)
def test_bad_value_names_the_variable_and_value(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"DAGSTER_HOME": str(tmp_path), name: value})
    message = str(info.value)
    assert name in message
    assert repr(value) in message
    assert expected in message


def test_a_bad_setting_is_the_first_line_a_user_sees(tmp_path: Path) -> None:
    """Loading the code location as Dagster does: the variable leads, before any traceback."""
    for name, value in (("RETRAIN_WINDOW_DAYS", "abc"), ("RETRAIN_SCHEDULE_CRON", "61 * * * *")):
        env = dagster_env(DAGSTER_HOME=str(tmp_path), **{name: value})
        done = subprocess.run(
            [sys.executable, "-c", "import retrain_assets.definitions"],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode != 0
        first = done.stderr.strip().splitlines()[0]
        assert first.startswith(f"retrain-assets: invalid setting: {name}={value!r}"), first
