"""data/landing.py: reading, scanning and refusing files in the landing directory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_assets.data.landing import MIB, FileLimits, LandingDirSource, scan_landing_dir
from retrain_assets.data.validation import DataValidationError, NoDataError

SECRET = "root:x:0:0:SECRET-LINE"
GOOD_CSV = "timestamp,a,b,target\n" + "".join(
    f"2026-03-05T{23 - i:02d}:00:00Z,{i},{i % 3},{i % 2}\n" for i in range(12)
)


def csv(rows: int) -> str:
    return "a,b,target\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(rows))


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    directory = tmp_path / "landing"
    directory.mkdir()
    return directory


def test_a_symbolic_link_is_refused_and_its_target_never_echoed(
    landing: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "passwd"
    outside.write_text(f"{SECRET}\n1,2,3\n")
    (landing / "2026-03-05.csv").symlink_to(outside)
    with pytest.raises(DataValidationError) as info:
        LandingDirSource(landing, "target", 1).load("2026-03-05")
    assert "a symbolic link" in str(info.value) and "RETRAIN_DATA_DIR" in str(info.value)
    assert SECRET not in str(info.value)
    # The sensor does not request it; it says why.
    scan = scan_landing_dir(landing)
    assert scan.files == {}
    why = "a symbolic link: landing files must be regular files"
    assert scan.ignored == [("2026-03-05.csv", why)]
    # A dangling link is refused the same way, not reported as "no data".
    outside.unlink()
    with pytest.raises(DataValidationError, match="a symbolic link"):
        LandingDirSource(landing, "target", 1).load("2026-03-05")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(landing: Path) -> None:
    (landing / "2026-03-05.csv").write_text(csv(40_000))  # ~0.4 MiB
    limits = FileLimits(max_bytes=MIB // 4, max_rows=10**6)
    with pytest.raises(DataValidationError, match=r"MiB, over the limit of 0.25 MiB per file "
                                                  r"\(RETRAIN_MAX_FILE_MB\)"):  # fmt: skip
        LandingDirSource(landing, "target", 1, limits).load("2026-03-05")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_file_over_the_row_limit_is_refused(landing: Path, suffix: str) -> None:
    path = landing / f"2026-03-05.{suffix}"
    if suffix == "csv":
        path.write_text(csv(50))
    else:
        pd.read_csv(pd.io.common.StringIO(csv(50))).to_parquet(path)
    limits = FileLimits(max_rows=20)
    with pytest.raises(DataValidationError) as info:
        LandingDirSource(landing, "target", 1, limits).load("2026-03-05")
    message = str(info.value)
    assert "over the limit of 20 per day (RETRAIN_MAX_ROWS_PER_DAY)" in message
    # Parquet says how many from its footer; a CSV is read only one row past the limit.
    assert ("50 rows" if suffix == "parquet" else "more than 20 rows") in message
    frame, _ = LandingDirSource(landing, "target", 1, FileLimits(max_rows=50)).load("2026-03-05")
    assert len(frame) == 50


def test_a_missing_landing_directory_is_named_as_missing(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"landing directory .*gone \(RETRAIN_DATA_DIR\) "
                                                  r"does not exist"):  # fmt: skip
        LandingDirSource(tmp_path / "gone", "target", 1).load("2026-03-05")


def test_an_offending_value_is_shown_short(landing: Path) -> None:
    long_value = "x" * 5000
    (landing / "2026-03-05.csv").write_text(f"a,target\n{long_value},1\n2,0\n")
    with pytest.raises(DataValidationError) as info:
        LandingDirSource(landing, "target", 1).load("2026-03-05")
    message = str(info.value)
    assert "column 'a' is not numeric" in message and "row 1" in message
    assert len(message) < 300 and "xxxx…" in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,a,target\n1,2,3,0\n", "the header names 'a' more than once"),
        (",a,target\n0,1,0\n", "column 1 has no name in the header"),
        ("a,target\n1,up\n2,UP\n3,down\n", "spells one label several ways: 'UP', 'up'"),
        ("a,target\n1,up\n2,up \n3,down\n", "spells one label several ways: 'up', 'up '"),
    ],
)
def test_schema_slips_are_refused_with_the_column_named(
    landing: Path, content: str, message: str
) -> None:
    (landing / "2026-03-05.csv").write_text(content)
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(")):
        LandingDirSource(landing, "target", 1).load("2026-03-05")


def test_parquet_schema_slips_are_refused(landing: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([[1.0, 2.0], [3.0, 4.0], [0, 1]], names=["a", "a", "target"])
    pq.write_table(table, landing / "2026-03-05.parquet")
    with pytest.raises(DataValidationError, match="the header names 'a' more than once"):
        LandingDirSource(landing, "target", 1).load("2026-03-05")
    (landing / "2026-03-05.parquet").unlink()
    frame = pd.DataFrame({"a": [1.0, 2.0], "created": pd.to_datetime(["2026-03-05"] * 2),
                          "target": [0, 1]})  # fmt: skip
    frame.to_parquet(landing / "2026-03-05.parquet")
    with pytest.raises(DataValidationError, match="column 'created' holds dates or times"):
        LandingDirSource(landing, "target", 1).load("2026-03-05")


def test_a_directory_or_pipe_named_like_a_day_is_refused_not_taken_for_no_data(
    landing: Path,
) -> None:
    import os

    (landing / "2026-03-02.csv").mkdir()
    os.mkfifo(landing / "2026-03-03.csv")
    for day in ("2026-03-02", "2026-03-03"):
        with pytest.raises(DataValidationError, match="not a regular file"):
            LandingDirSource(landing, "target", 1).load(day)
    scan = scan_landing_dir(landing)
    assert scan.refused_days == {"2026-03-02", "2026-03-03"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,target\n1,0.37\n2,0.5\n", "column 'target' holds continuous values (e.g. 0.37)"),
        ("a,__day,target\n1,2,0\n", "names starting with '__' are the service's own"),
        ("a,target\n1,0\n" + "x" * 200_000 + ",1\n", None),  # a huge cell in a row: read
    ],
)
def test_labels_must_be_classes_and_names_must_not_be_the_services(
    landing: Path, content: str, message: str | None
) -> None:
    (landing / "2026-03-05.csv").write_text(content)
    if message is None:
        with pytest.raises(DataValidationError, match="column 'a' is not numeric"):
            LandingDirSource(landing, "target", 1).load("2026-03-05")
        return
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LandingDirSource(landing, "target", 1).load("2026-03-05")


def test_a_huge_header_cell_names_the_file(landing: Path) -> None:
    (landing / "2026-03-05.csv").write_text("a" * 200_000 + ",target\n1,0\n")
    with pytest.raises(DataValidationError, match=r"2026-03-05.csv: malformed CSV header"):
        LandingDirSource(landing, "target", 1).load("2026-03-05")


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
