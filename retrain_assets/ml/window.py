"""A training window: the days' rows in time order, and the holdout split off its newest end."""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from retrain_assets.data.validation import TIMESTAMP_COLUMN, DataValidationError, shown
from retrain_assets.fsutil import release_arrow_memory

DAY_COLUMN = "__day"


class TrainingError(ValueError):
    """The window cannot produce a model; the message says which day or rule."""


class InsufficientDataError(TrainingError):
    """Not enough rows yet (the start of a history): the day is skipped, not failed."""


@dataclass(frozen=True)
class Window:
    """The rows of a training window in time order, plus what was there and what was not."""

    frame: pd.DataFrame  # features + target + DAY_COLUMN (+ timestamp), oldest first
    features: list[str]
    days_used: list[str]
    days_missing: list[str]
    # Days left out because they lack a feature the newest day has (the feature set changed),
    # each with the reason.
    days_left_out: dict[str, str] = field(default_factory=dict)


def _check_spelling_across_days(first_seen: Mapping[str, str], days: list[str]) -> None:
    """`no` on one day and `No` on another are one label spelt two ways, not two classes."""
    spellings: dict[str, list[str]] = {}
    for label in first_seen:
        spellings.setdefault(label.strip().casefold(), []).append(label)
    clash = next((sorted(s, key=first_seen.get) for s in spellings.values() if len(s) > 1), None)
    if clash:
        named = " and ".join(f"{shown(label)} (from {first_seen[label]})" for label in clash[:3])
        raise DataValidationError(
            f"the training window {days[0]}..{days[-1]} spells one label several ways: {named}; "
            "write each label one way (re-land the older days, or wait until they leave the "
            "window)"
        )


def assemble_window(
    frames: MutableMapping[str, pd.DataFrame],
    sources: Mapping[str, str],
    expected_days: list[str],
    target: str,
    *,
    consume: bool = False,
) -> Window:
    """Concatenate the days of a window oldest first, on the newest day's feature set.

    A day without one of those features is from before the feature set changed: it is left out
    of the window, and `days_left_out` says why.

    The features land in one float64 matrix that fitting slices without another copy (the
    frame's feature block is a view of it). With `consume`, each day is dropped from
    `frames` and its memory returned as soon as it is copied, so a window never needs twice
    its size in memory.
    """
    days = [d for d in expected_days if d in frames]
    missing = [d for d in expected_days if d not in frames]
    if not days:
        raise InsufficientDataError(
            f"no data in the training window {expected_days[0]}..{expected_days[-1]}"
        )
    newest = frames[days[-1]]
    # Sorted: the column order of a file never changes the model, its version or its judge.
    features = sorted(c for c in newest.columns if c not in (target, TIMESTAMP_COLUMN))
    left_out: dict[str, str] = {}
    for day in days:  # every day is checked before any memory is committed to the window
        absent = [c for c in features if c not in frames[day].columns]
        if absent:
            left_out[day] = (
                f"{sources.get(day, day)} lacks feature column(s) "
                f"{', '.join(map(shown, absent[:5]))} that {days[-1]} has (the feature set "
                "changed)"
            )
    if left_out:
        days = [d for d in days if d not in left_out]
        if consume:
            for day in left_out:
                frames.pop(day, None)
    lengths = [len(frames[day]) for day in days]
    # Row-major: a slice of rows (the holdout, a boosting's validation rows) is a contiguous
    # view, and a boosting's binning subsamples rows with np.take, which first copies a
    # column-major matrix whole (160 MB on 1M x 20). Forests get the column-major float32
    # copy they fit on from fit_pipeline, as scikit-learn would make it.
    matrix = np.empty((sum(lengths), len(features)), dtype="float64", order="C")
    targets = []
    first_seen: dict[str, str] = {}  # each label's spelling -> the first day it appears
    offset = 0
    for day, length in zip(days, lengths, strict=True):
        frame = frames.pop(day) if consume else frames[day]
        for j, column in enumerate(features):
            matrix[offset : offset + length, j] = frame[column].to_numpy(dtype="float64")
        # A copy: a view would keep the day's whole float block alive (pandas stores a float
        # target with the features). A one-column frame keeps concat's dtype rules for labels.
        targets.append(frame[[target]].copy())
        for label in pd.unique(frame[target]):
            first_seen.setdefault(str(label), day)
        offset += length
        del frame
        if consume:
            # A day read from Parquet lives in Arrow's pool, which keeps freed pages: returned
            # day by day, the days and the window never sit in memory whole at once.
            release_arrow_memory()
    _check_spelling_across_days(first_seen, days)
    window = pd.DataFrame(matrix, columns=features, copy=False)
    window[target] = pd.concat(targets, ignore_index=True)[target]
    del targets
    # Ordered categories keep the day column tiny (a byte per row, not a string) and sortable.
    window[DAY_COLUMN] = pd.Categorical.from_codes(
        np.repeat(np.arange(len(days)), lengths),
        dtype=pd.CategoricalDtype(days, ordered=True),
    )
    # Only an object column can mix label types (e.g. ints on one day, strings on another);
    # a typed column skips the per-row type scan.
    if window[target].dtype == object and window[target].map(type).nunique() > 1:
        window[target] = window[target].astype(str)
    return Window(window, features, days, missing, left_out)


def split_holdout(window: Window, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The newest `fraction` of rows is held out; fitting only ever sees the rows before it."""
    n = len(window.frame)
    n_holdout = max(1, math.ceil(n * fraction))
    if n - n_holdout < 1:
        raise TrainingError(f"only {n} row(s) in the window: nothing left to fit after holdout")
    return window.frame.iloc[: n - n_holdout], window.frame.iloc[n - n_holdout :]
