"""Reading one day's labelled rows and checking they can be trained on.

Every error names the file (or demo day), the column or value, and what is wrong, so an operator
can fix the data without reading code.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from retrain_assets.text import first_line

TIMESTAMP_COLUMN = "timestamp"


class DataValidationError(ValueError):
    """One day's data cannot be used; the message says where and why."""


class NoDataError(DataValidationError):
    """There is no data at all for a day."""


def shown(value: object, limit: int = 40) -> str:
    """A value as an error shows it: repr, cut short (never a file's content at length)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _too_many_rows(path: Path, rows: str, max_rows: int) -> DataValidationError:
    return DataValidationError(
        f"{path}: {rows} rows, over the limit of {max_rows} per day (RETRAIN_MAX_ROWS_PER_DAY)"
    )


def check_header(names: list[str], source: str) -> None:
    """Every column has a name, and a name of its own (pandas would rename a duplicate
    `a` to `a.1` and an unnamed column to `Unnamed: 0`, and train on them)."""
    for position, name in enumerate(names, start=1):
        if str(name).startswith("__"):
            raise DataValidationError(
                f"{source}: column {shown(name)}: names starting with '__' are the service's own"
            )
        if not str(name).strip():
            raise DataValidationError(
                f"{source}: column {position} has no name in the header (an index written "
                "with the data? write the file with index=False, or drop that column)"
            )
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        raise DataValidationError(
            f"{source}: the header names {', '.join(map(shown, duplicated[:5]))} more than "
            "once; every column needs a name of its own"
        )


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def read_table(path: Path, max_rows: int | None = None) -> pd.DataFrame:
    """Read a landing file, turning parser failures into errors that name the file.

    With `max_rows`, a longer file is refused before it is read whole: Parquet by its footer,
    CSV by reading one row past the limit.
    """
    try:
        if path.suffix == ".parquet":
            footer = pq.ParquetFile(path)
            check_header(list(footer.schema_arrow.names), str(path))
            if max_rows is not None and footer.metadata.num_rows > max_rows:
                raise _too_many_rows(path, str(footer.metadata.num_rows), max_rows)
            return pd.read_parquet(path)
        check_header(_csv_header(path), str(path))
        frame = pd.read_csv(path, nrows=None if max_rows is None else max_rows + 1)
        if max_rows is not None and len(frame) > max_rows:
            raise _too_many_rows(path, f"more than {max_rows}", max_rows)
        return frame
    except DataValidationError:
        raise
    except csv.Error as exc:  # e.g. a header cell past the csv module's field size limit
        raise DataValidationError(f"{path}: malformed CSV header: {first_line(exc)}") from None
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{path}: the file is empty (no header, no rows)") from None
    except pd.errors.ParserError as exc:
        raise DataValidationError(f"{path}: malformed CSV: {first_line(exc)}") from None
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except (OSError, ValueError) as exc:
        # pyarrow raises ArrowInvalid (a ValueError) for a corrupt Parquet file.
        kind = "Parquet" if path.suffix == ".parquet" else "CSV"
        raise DataValidationError(
            f"{path}: not a readable {kind} file: {first_line(exc)}"
        ) from None


def _first_row(mask: pd.Series) -> int:
    # 1-based data row (the header is not counted), as a spreadsheet user would look for it.
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


def numeric_feature(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    if pd.api.types.is_complex_dtype(values):
        raise DataValidationError(
            f"{source}: column '{column}' holds complex numbers; features must be real numbers"
        )
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
        # pandas would turn them into nanosecond counts: a feature that only counts time.
        raise DataValidationError(
            f"{source}: column '{column}' holds dates or times; only '{TIMESTAMP_COLUMN}' may "
            f"(it orders the rows): rename it to '{TIMESTAMP_COLUMN}' or drop it"
        )
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        converted = values.astype("float64")
    else:
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            row = _first_row(bad)
            example = values[bad].iloc[0]
            raise DataValidationError(
                f"{source}: column '{column}' is not numeric: value {shown(example)} at row {row} "
                f"({int(bad.sum())} non-numeric value(s)); features must be numbers"
            )
        converted = converted.astype("float64")
    # pandas reads "inf" and 1e999 as infinity, which scikit-learn refuses to fit on.
    infinite = pd.Series(np.isinf(converted.to_numpy()), index=converted.index)
    if infinite.any():
        raise DataValidationError(
            f"{source}: column '{column}' has an infinite value {shown(values[infinite].iloc[0])} "
            f"at row {_first_row(infinite)} ({int(infinite.sum())} infinite value(s)); "
            "features must be finite numbers"
        )
    return converted


def _labels(values: pd.Series) -> pd.Series:
    # 1.0/0.0 from a CSV with a blank somewhere become floats; keep integer labels integral.
    if pd.api.types.is_float_dtype(values):
        fractional = np.mod(values.to_numpy(), 1) != 0
        if fractional.any():
            raise ValueError(shown(float(values[fractional].iloc[0])))
        return values.astype("int64")
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values
    return values.astype(str)


def _check_label_spelling(labels: pd.Series, target: str, source: str) -> None:
    """`up` and `UP` (or `up `) are one label spelt two ways, not two classes."""
    if pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        return
    spellings: dict[str, set[str]] = {}
    for label in pd.unique(labels):
        spellings.setdefault(str(label).strip().casefold(), set()).add(str(label))
    clash = next((sorted(s) for s in spellings.values() if len(s) > 1), None)
    if clash:
        raise DataValidationError(
            f"{source}: column '{target}' spells one label several ways: "
            f"{', '.join(map(shown, clash[:4]))}; write each label one way"
        )


def validate_day(frame: pd.DataFrame, *, source: str, target: str, min_rows: int) -> pd.DataFrame:
    """Check one day's rows and return them ready to train on.

    Features become float64 (partial nulls are allowed; the model handles them), the target keeps
    its labels, rows are ordered by `timestamp` when that column exists.
    """
    if len(frame) == 0:
        raise DataValidationError(f"{source}: the file is empty (no rows)")
    if target not in frame.columns:
        names = [shown(str(c), 30) for c in frame.columns[:10]]
        more = f" and {len(frame.columns) - 10} more" if len(frame.columns) > 10 else ""
        columns = ", ".join(names) + more
        raise DataValidationError(
            f"{source}: missing target column '{target}' (columns: {columns}); "
            "set RETRAIN_TARGET_COLUMN if the label has another name"
        )
    features = [c for c in frame.columns if c not in (target, TIMESTAMP_COLUMN)]
    if not features:
        raise DataValidationError(
            f"{source}: no feature columns besides '{target}'"
            + (f" and '{TIMESTAMP_COLUMN}'" if TIMESTAMP_COLUMN in frame.columns else "")
        )
    for column in frame.columns:
        if not isinstance(column, str) or not column.strip():
            raise DataValidationError(f"{source}: a column has no name (position {column!r})")
    missing_labels = frame[target].isna()
    if missing_labels.any():
        raise DataValidationError(
            f"{source}: column '{target}' has {int(missing_labels.sum())} missing label(s) "
            f"(first at row {_first_row(missing_labels)}); every row needs a label"
        )
    out = pd.DataFrame(index=frame.index)
    for column in features:
        if frame[column].isna().all():
            raise DataValidationError(f"{source}: column '{column}' is entirely empty (all null)")
        out[column] = numeric_feature(frame, column, source)
    try:
        out[target] = _labels(frame[target])
    except ValueError as exc:
        raise DataValidationError(
            f"{source}: column '{target}' holds continuous values (e.g. {exc}); a classifier "
            "needs labels (classes such as 0/1 or yes/no)"
        ) from None
    _check_label_spelling(out[target], target, source)
    if TIMESTAMP_COLUMN in frame.columns:
        stamps = pd.to_datetime(frame[TIMESTAMP_COLUMN], errors="coerce", utc=True)
        bad = stamps.isna()
        if bad.any():
            raise DataValidationError(
                f"{source}: column '{TIMESTAMP_COLUMN}' has an unreadable or missing time "
                f"{shown(frame[TIMESTAMP_COLUMN][bad].iloc[0])} at row {_first_row(bad)}"
            )
        out[TIMESTAMP_COLUMN] = stamps
        out = out.sort_values(TIMESTAMP_COLUMN, kind="stable")
    if len(out) < min_rows:
        raise DataValidationError(
            f"{source}: only {len(out)} row(s), fewer than the minimum of {min_rows} per day "
            "(RETRAIN_MIN_ROWS_PER_DAY)"
        )
    return out.reset_index(drop=True)


def feature_columns(frame: pd.DataFrame, target: str) -> list[str]:
    return [c for c in frame.columns if c not in (target, TIMESTAMP_COLUMN)]


HASH_CHUNK_ROWS = 16_384


def content_hash(frame: pd.DataFrame) -> str:
    """A stable fingerprint of the rows and column names (independent of file format)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    # Each row's hash depends on that row alone, so slices of rows give the same digest, and a
    # slice of a row-major window stays in the CPU's cache while its columns are hashed.
    for start in range(0, len(frame), HASH_CHUNK_ROWS):
        rows = frame.iloc[start : start + HASH_CHUNK_ROWS]
        digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    return digest.hexdigest()
