"""data/validation.py: reading a landing file and checking one day's rows.

Every bad input must raise DataValidationError whose message names the file, the column or
value, and what is wrong; the tests assert on those parts of the message.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_assets.data import validation
from retrain_assets.data.validation import (
    DataValidationError,
    content_hash,
    feature_columns,
    read_table,
    validate_day,
)


def load(path: Path, *, target: str = "target", min_rows: int = 1) -> pd.DataFrame:
    """What the landing-directory source does with one file."""
    return validate_day(read_table(path), source=str(path), target=target, min_rows=min_rows)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def error_for(path: Path, **kwargs) -> str:
    with pytest.raises(DataValidationError) as info:
        load(path, **kwargs)
    return str(info.value)


# ---- good input --------------------------------------------------------------------------


def test_csv_with_timestamp_comes_back_sorted_by_time_with_float_features(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "2026-03-05.csv",
        "timestamp,a,b,target\n"
        "2026-03-05T10:00:00Z,3,0.5,1\n"
        "2026-03-05T08:00:00Z,1,1.5,0\n"
        "2026-03-05T09:00:00Z,2,2.5,1\n",
    )
    frame = load(path)
    assert frame["a"].tolist() == [1.0, 2.0, 3.0]
    assert frame["b"].tolist() == [1.5, 2.5, 0.5]
    assert frame["target"].tolist() == [0, 1, 1]
    assert frame["timestamp"].is_monotonic_increasing
    assert frame["a"].dtype == np.float64 and frame["b"].dtype == np.float64
    assert frame["target"].dtype == np.int64
    assert list(frame.index) == [0, 1, 2]
    assert feature_columns(frame, "target") == ["a", "b"]


def test_parquet_with_timestamp_comes_back_sorted_by_time(tmp_path: Path) -> None:
    source = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                ["2026-03-05 12:00", "2026-03-05 01:00", "2026-03-05 06:00"], utc=True
            ),
            "x": np.array([30, 10, 20], dtype="int32"),
            "y": [0.3, 0.1, 0.2],
            "target": ["b", "a", "b"],
        }
    )
    path = tmp_path / "2026-03-05.parquet"
    source.to_parquet(path)
    frame = load(path)
    assert frame["x"].tolist() == [10.0, 20.0, 30.0]
    assert frame["y"].tolist() == [0.1, 0.2, 0.3]
    assert frame["target"].tolist() == ["a", "b", "b"]
    assert frame["x"].dtype == np.float64
    assert frame["timestamp"].is_monotonic_increasing


def test_equal_timestamps_keep_file_order(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "2026-03-05.csv",
        "timestamp,a,target\n2026-03-05T09:00:00Z,1,0\n2026-03-05T09:00:00Z,2,1\n"
        "2026-03-05T08:00:00Z,3,0\n",
    )
    assert load(path)["a"].tolist() == [3.0, 1.0, 2.0]


def test_partial_nulls_in_a_feature_are_accepted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,b,target\n1,,0\n2,5,1\n,6,0\n")
    frame = load(path)
    assert frame["b"].isna().tolist() == [True, False, False]
    assert frame["a"].isna().tolist() == [False, False, True]
    assert frame["b"].dtype == np.float64


def test_bool_features_become_floats(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "flag,target\nTrue,1\nFalse,0\nTrue,1\n")
    frame = load(path)
    assert frame["flag"].tolist() == [1.0, 0.0, 1.0]
    assert frame["flag"].dtype == np.float64


def test_bool_feature_with_a_blank_is_accepted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "flag,x,target\nTrue,1,1\n,2,0\nFalse,3,1\n")
    frame = load(path)
    assert frame["flag"].iloc[0] == 1.0 and frame["flag"].iloc[2] == 0.0
    assert math.isnan(frame["flag"].iloc[1])


def test_numbers_stored_as_text_are_converted(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": ["1.5", "2", None], "target": [0, 1, 0]}).to_parquet(path)
    assert load(path)["a"].tolist()[:2] == [1.5, 2.0]


def test_float_labels_that_are_whole_numbers_stay_integers(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": [1.0, 2.0], "target": [1.0, 0.0]}).to_parquet(path)
    frame = load(path)
    assert frame["target"].dtype == np.int64
    assert frame["target"].tolist() == [1, 0]


def test_other_target_column_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,label\n1,x\n2,y\n")
    frame = load(path, target="label")
    assert frame["label"].tolist() == ["x", "y"]


# ---- bad input: every message names the file, the column/value and the problem ----------

# (the file's text, what its error must say besides the file's path)
BAD_CSV = {
    "missing-target": (
        "a,b,label\n1,2,0\n",
        ["missing target column 'target'", "'a', 'b', 'label'", "RETRAIN_TARGET_COLUMN"],
    ),
    "no-features": (
        "timestamp,target\n2026-03-05T00:00:00Z,1\n",
        ["no feature columns", "'target'", "'timestamp'"],
    ),
    # The third data row (the header not counted), and how many such values there are.
    "non-numeric": (
        "size,colour,target\n1,0.5,0\n2,0.7,1\n3,red,0\n4,blue,1\n",
        ["column 'colour'", "'red'", "row 3", "2 non-numeric", "not numeric"],
    ),
    "all-null": ("a,empty,target\n1,,0\n2,,1\n", ["column 'empty'", "all null"]),
    "nan-target": (
        "a,target\n1,0\n2,\n3,1\n4,\n",
        ["column 'target'", "2 missing label(s)", "row 2"],
    ),
    "header-only": ("a,b,target\n", ["empty", "no rows"]),
    "too-many-fields": (
        "a,b,target\n1,2,0\n3,4,1\n5,6,7,1\n",
        ["malformed CSV", "Expected 3 fields in line 4, saw 4"],
    ),
    "bad-timestamp": (
        "timestamp,a,target\n2026-03-05T08:00:00Z,1,0\nsoon,2,1\n",
        ["column 'timestamp'", "'soon'", "row 2"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_a_bad_csv_is_refused_naming_file_column_and_problem(tmp_path: Path, case: str) -> None:
    text, expected = BAD_CSV[case]
    path = write_csv(tmp_path / "2026-03-05.csv", text)
    message = error_for(path)
    assert str(path) in message
    for part in expected:
        assert part in message, (part, message)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "2026-03-05.csv"
    path.write_bytes(b"")
    message = error_for(path)
    assert str(path) in message
    assert "empty" in message


def test_fewer_rows_than_minimum_per_day(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "2026-03-05.csv", "a,target\n1,0\n2,1\n3,0\n")
    message = error_for(path, min_rows=10)
    assert str(path) in message
    assert "only 3 row(s)" in message
    assert "minimum of 10" in message
    assert "RETRAIN_MIN_ROWS_PER_DAY" in message
    assert len(load(path, min_rows=3)) == 3  # exactly the minimum is enough


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "2026-03-05.parquet"
    pd.DataFrame({"a": range(100), "target": [0, 1] * 50}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-40])  # cut off the footer
    message = error_for(path)
    assert str(path) in message
    assert "not a readable Parquet file" in message


def test_text_file_named_parquet(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "2026-03-05.parquet", "a,target\n1,0\n")
    message = error_for(path)
    assert str(path) in message and "Parquet" in message


def test_not_utf8_csv(tmp_path: Path) -> None:
    path = tmp_path / "2026-03-05.csv"
    path.write_bytes(b"a,target\n\xff\xfe1,0\n")
    message = error_for(path)
    assert str(path) in message
    assert "UTF-8" in message


@pytest.mark.parametrize("text", ["inf", "-inf", "1e999"])
def test_infinite_feature_value_is_rejected(tmp_path: Path, text: str) -> None:
    # pandas reads these as float infinity; scikit-learn refuses to fit on them later with an
    # error that names neither the file nor the column.
    path = write_csv(tmp_path / "2026-03-05.csv", f"a,b,target\n1,2,0\n2,{text},1\n3,4,0\n")
    message = error_for(path)
    assert str(path) in message
    assert "column 'b'" in message
    assert "row 2" in message
    assert "inf" in message


def test_error_names_demo_day_as_source() -> None:
    frame = pd.DataFrame({"a": [1.0], "label": [0]})
    with pytest.raises(DataValidationError, match=r"^demo stream 2026-03-05: missing target"):
        validate_day(frame, source="demo stream 2026-03-05", target="target", min_rows=1)


# ---- content hash ------------------------------------------------------------------------


def test_content_hash_is_format_independent_and_sensitive_to_values(tmp_path: Path) -> None:
    rows = pd.DataFrame({"a": [1.0, 2.0, 3.0], "target": [0, 1, 0]})
    csv = tmp_path / "d.csv"
    parquet = tmp_path / "d.parquet"
    rows.to_csv(csv, index=False)
    rows.to_parquet(parquet)
    assert content_hash(load(csv)) == content_hash(load(parquet))
    changed = rows.copy()
    changed.loc[2, "a"] = 3.5
    assert content_hash(changed) != content_hash(rows)
    assert content_hash(rows.rename(columns={"a": "b"})) != content_hash(rows)


def test_content_hash_in_slices_is_the_digest_of_the_whole_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fingerprints recorded before hashing went slice by slice must still match: a day whose
    # data did not change keeps its fingerprint, and so its earlier decision.
    frame = pd.DataFrame(
        {
            "a": np.linspace(-1, 1, 10),
            "label": ["x", "y", "z", "x", "y"] * 2,
            "day": pd.Categorical(["d1"] * 7 + ["d2"] * 3),
        }
    )
    whole = hashlib.sha256(b"a\x1flabel\x1fday")
    whole.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    for rows in (3, 10, 16_384):
        monkeypatch.setattr(validation, "HASH_CHUNK_ROWS", rows)
        assert content_hash(frame) == whole.hexdigest()
