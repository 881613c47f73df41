"""data.sources, data.landing, data.demo: the landing directory and the built-in demo stream."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from retrain_assets.data.demo import (
    DEMO_EPOCH,
    DEMO_FEATURES,
    DemoSource,
    demo_day,
    demo_is_bad_day,
)
from retrain_assets.data.landing import LandingDirSource, scan_landing_dir
from retrain_assets.data.sources import make_source
from retrain_assets.data.validation import DataValidationError, NoDataError

GOOD_CSV = "timestamp,a,b,target\n" + "".join(
    f"2026-03-05T{23 - i:02d}:00:00Z,{i},{i % 3},{i % 2}\n" for i in range(12)
)

YEAR = [DEMO_EPOCH + dt.timedelta(days=k) for k in range(365)]


# ---- landing directory -------------------------------------------------------------------


def test_landing_source_reads_a_csv_day(tmp_path: Path) -> None:
    (tmp_path / "2026-03-05.csv").write_text(GOOD_CSV)
    frame, origin = LandingDirSource(tmp_path, "target", 10).load("2026-03-05")
    assert origin == str(tmp_path / "2026-03-05.csv")
    assert len(frame) == 12
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["a"].tolist() == [float(i) for i in range(11, -1, -1)]
    assert frame["a"].dtype == np.float64


def test_landing_source_reads_a_parquet_day(tmp_path: Path) -> None:
    rows = pd.DataFrame({"a": np.arange(10.0), "target": [0, 1] * 5})
    rows.to_parquet(tmp_path / "2026-03-05.parquet")
    frame, origin = LandingDirSource(tmp_path, "target", 10).load("2026-03-05")
    assert origin.endswith("2026-03-05.parquet")
    pd.testing.assert_frame_equal(frame, rows)


def test_day_with_no_file(tmp_path: Path) -> None:
    (tmp_path / "2026-03-04.csv").write_text(GOOD_CSV)
    with pytest.raises(NoDataError) as info:
        LandingDirSource(tmp_path, "target", 1).load("2026-03-05")
    message = str(info.value)
    assert message.startswith("no data for 2026-03-05")
    assert "2026-03-05.csv" in message and "2026-03-05.parquet" in message
    assert str(tmp_path) in message


def test_day_with_both_csv_and_parquet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "2026-03-05.csv").write_text(GOOD_CSV)
    pd.DataFrame({"a": [1.0], "target": [1]}).to_parquet(tmp_path / "2026-03-05.parquet")
    with pytest.raises(DataValidationError) as info:
        LandingDirSource(tmp_path, "target", 1).load("2026-03-05")
    message = str(info.value)
    assert "2026-03-05" in message
    assert str(tmp_path / "2026-03-05.csv") in message
    assert str(tmp_path / "2026-03-05.parquet") in message
    assert "both" in message


def test_bad_file_error_names_the_landing_file(tmp_path: Path) -> None:
    (tmp_path / "2026-03-05.csv").write_text("a,target\n1,0\nred,1\n")
    with pytest.raises(DataValidationError) as info:
        LandingDirSource(tmp_path, "target", 1).load("2026-03-05")
    message = str(info.value)
    assert str(tmp_path / "2026-03-05.csv") in message
    assert "'a'" in message and "'red'" in message and "row 2" in message


def test_scan_finds_day_files_and_says_why_others_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "2026-03-05.csv").write_text(GOOD_CSV)
    (tmp_path / "2026-03-06.parquet").write_bytes(b"x")
    (tmp_path / "2026-03-07.csv").write_text(GOOD_CSV)
    (tmp_path / "2026-03-07.parquet").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "2026-02-30.csv").write_text(GOOD_CSV)  # not a real date
    (tmp_path / "2026-3-5.csv").write_text(GOOD_CSV)
    (tmp_path / "2026-03-08.csv.bak").write_text(GOOD_CSV)
    (tmp_path / "2025-12-31.csv").write_text(GOOD_CSV)  # before the start date
    (tmp_path / ".2026-03-09.csv.part").write_text(GOOD_CSV)  # hidden: an upload in progress
    (tmp_path / ".2026-03-10.csv").write_text(GOOD_CSV)
    (tmp_path / "2026-03-11.csv").mkdir()  # a directory, not a file

    scan = scan_landing_dir(tmp_path, start_date="2026-01-01")

    assert sorted(scan.files) == ["2026-03-05", "2026-03-06", "2026-03-07"]
    assert [f.path.name for f in scan.files["2026-03-07"]] == [
        "2026-03-07.csv",
        "2026-03-07.parquet",
    ]
    found = scan.files["2026-03-05"][0]
    assert found.day == "2026-03-05"
    assert found.size == len(GOOD_CSV)
    ignored = dict(scan.ignored)
    assert set(ignored) == {
        "notes.txt",
        "2026-02-30.csv",
        "2026-3-5.csv",
        "2026-03-08.csv.bak",
        "2025-12-31.csv",
        "2026-03-11.csv",
    }
    assert "not a regular file" in ignored["2026-03-11.csv"]
    assert "YYYY-MM-DD" in ignored["notes.txt"]
    assert "YYYY-MM-DD" in ignored["2026-02-30.csv"]
    assert "before RETRAIN_START_DATE 2026-01-01" in ignored["2025-12-31.csv"]


def test_scan_without_start_date_keeps_every_day(tmp_path: Path) -> None:
    (tmp_path / "2025-12-31.csv").write_text(GOOD_CSV)
    assert list(scan_landing_dir(tmp_path).files) == ["2025-12-31"]


def test_scan_of_missing_directory_says_so(tmp_path: Path) -> None:
    scan = scan_landing_dir(tmp_path / "nope")
    assert scan.files == {}
    assert scan.ignored == [(str(tmp_path / "nope"), "landing directory does not exist")]


def test_file_version_changes_when_the_file_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "2026-03-05.csv"
    path.write_text(GOOD_CSV)
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    first = scan_landing_dir(tmp_path).files["2026-03-05"][0].version
    assert scan_landing_dir(tmp_path).files["2026-03-05"][0].version == first  # re-scan: same
    path.write_text(GOOD_CSV + "2026-03-05T23:30:00Z,1,1,1\n")
    assert scan_landing_dir(tmp_path).files["2026-03-05"][0].version != first


def test_make_source_picks_demo_without_a_data_dir(tmp_path: Path) -> None:
    assert isinstance(make_source(None, "target", 10), DemoSource)
    landing = make_source(tmp_path, "target", 10)
    assert isinstance(landing, LandingDirSource) and landing.directory == tmp_path


# ---- demo stream -------------------------------------------------------------------------


def test_demo_day_is_deterministic() -> None:
    pd.testing.assert_frame_equal(demo_day("2026-03-05"), demo_day("2026-03-05"))
    first, label = DemoSource("target", 10).load("2026-03-05")
    second, _ = DemoSource("target", 10).load("2026-03-05")
    pd.testing.assert_frame_equal(first, second)
    assert label == "demo stream 2026-03-05"


def test_demo_days_differ() -> None:
    a, b = demo_day("2026-03-05"), demo_day("2026-03-06")
    assert not a[list(DEMO_FEATURES)].head(50).equals(b[list(DEMO_FEATURES)].head(50))
    assert a["timestamp"].dt.date.unique().tolist() == [dt.date(2026, 3, 5)]
    assert b["timestamp"].dt.date.unique().tolist() == [dt.date(2026, 3, 6)]


def test_demo_day_passes_validation_in_time_order() -> None:
    frame, _ = DemoSource("label", 10).load("2026-07-01")
    assert list(frame.columns) == [*DEMO_FEATURES, "label", "timestamp"]
    assert 350 <= len(frame) < 450
    assert frame["timestamp"].is_monotonic_increasing
    assert set(frame["label"]) == {0, 1}


def _concat(days: list[dt.date]) -> pd.DataFrame:
    return pd.concat([demo_day(d.isoformat()) for d in days], ignore_index=True)


def test_demo_stream_drifts_over_the_year() -> None:
    january = _concat(YEAR[:31])
    december = _concat(YEAR[-31:])
    # f0 has unit spread and about 12,000 rows a month, so a monthly mean without drift would
    # move by ~0.01 (standard error sqrt(2/12000) ~ 0.013); demand 0.5, forty times that.
    n = len(january)
    assert n > 10_000
    assert december["f0"].mean() - january["f0"].mean() > 0.5
    assert january["f0"].std() == pytest.approx(1.0, abs=0.05)
    # Concept drift: a model fitted on January loses accuracy on December.
    features = list(DEMO_FEATURES)
    model = LogisticRegression(max_iter=500).fit(january[features], january["target"])
    january_late = _concat(YEAR[31:38])
    on_january = (model.predict(january_late[features]) == january_late["target"]).mean()
    on_december = (model.predict(december[features]) == december["target"]).mean()
    assert on_january - on_december > 0.05


def test_bad_days_are_a_few_percent_and_never_in_the_first_week() -> None:
    bad = [d for d in YEAR if demo_is_bad_day(d)]
    assert 4 <= len(bad) <= 25, f"{len(bad)} bad days in a year"  # about 1 in 25
    assert all((d - DEMO_EPOCH).days >= 7 for d in bad)
    assert not any(demo_is_bad_day(DEMO_EPOCH + dt.timedelta(days=k)) for k in range(7))
    # Deterministic: the same date is always (or never) bad.
    assert [d for d in YEAR if demo_is_bad_day(d)] == bad


def _disagreement(day: dt.date) -> float:
    features = list(DEMO_FEATURES)
    before = _concat([day - dt.timedelta(days=k) for k in range(1, 6)])
    model = LogisticRegression(max_iter=500).fit(before[features], before["target"])
    rows = demo_day(day.isoformat())
    return float((model.predict(rows[features]) != rows["target"]).mean())


def test_bad_day_labels_disagree_with_neighbouring_days() -> None:
    bad = next(d for d in YEAR if demo_is_bad_day(d))
    # A good day whose five previous days are all good, as close as possible after the bad one.
    good = next(
        d
        for d in YEAR
        if d > bad + dt.timedelta(days=6)
        and not any(demo_is_bad_day(d - dt.timedelta(days=k)) for k in range(6))
    )
    on_good = _disagreement(good)
    on_bad = _disagreement(bad)
    assert on_good < 0.2  # the neighbours' model predicts a normal day well
    assert on_bad > 0.35  # about half the labels are flipped on a bad day
    assert on_bad - on_good > 0.2
