"""Fitting a classifier on a rolling window of days, and its safe, reproducible model file."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import math
import re
import time
import zipfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from skops.io.exceptions import UntrustedTypesFoundException

from retrain_assets import __version__
from retrain_assets.validation import TIMESTAMP_COLUMN, DataValidationError, content_hash

DAY_COLUMN = "__day"

ESTIMATORS: dict[str, type] = {
    "random_forest": RandomForestClassifier,
    "hist_gradient_boosting": HistGradientBoostingClassifier,
    "logistic_regression": LogisticRegression,
}
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 100, "min_samples_leaf": 2, "random_state": 0, "n_jobs": 1},
    "hist_gradient_boosting": {"max_iter": 200, "random_state": 0},
    "logistic_regression": {"max_iter": 1000},
}
DEFAULT_ESTIMATOR = "random_forest"
# Trees split on missing values themselves (scikit-learn >= 1.4); only these need an imputer.
# A median imputer on a large window costs a full copy of X plus a sort: on 800k x 20 rows it
# took 2.3 s and 345 MB of peak memory, for nothing when the estimator handles NaN natively.
NEEDS_IMPUTER = {"logistic_regression"}

# Types skops must be told to trust beyond its own defaults; reviewed, one per estimator family.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


class TrainingError(ValueError):
    """The window cannot produce a model; the message says which day or rule."""


@dataclass(frozen=True)
class Window:
    """The rows of a training window in time order, plus what was there and what was not."""

    frame: pd.DataFrame  # features + target + DAY_COLUMN (+ timestamp), oldest first
    features: list[str]
    days_used: list[str]
    days_missing: list[str]


@dataclass
class TrainedModel:
    pipeline: Pipeline
    estimator: str
    params: dict[str, Any]
    features: list[str]
    classes: list[Any]
    fit_rows: int
    holdout_rows: int
    fit_seconds: float
    fit_end_day: str  # day of the newest row used for fitting
    holdout_start_day: str  # day of the oldest held-out row
    data_fingerprint: str
    window_days: list[str] = field(default_factory=list)


def assemble_window(
    frames: MutableMapping[str, pd.DataFrame],
    sources: Mapping[str, str],
    expected_days: list[str],
    target: str,
    *,
    consume: bool = False,
) -> Window:
    """Concatenate the days of a window oldest first, on the newest day's feature set.

    The features land in one float64 matrix that fitting slices without another copy (the
    frame's feature block is a view of it). With `consume`, each day is dropped from
    `frames` as soon as it is copied, so a window never needs twice its size in memory.
    """
    days = [d for d in expected_days if d in frames]
    missing = [d for d in expected_days if d not in frames]
    if not days:
        raise TrainingError(
            f"no data in the training window {expected_days[0]}..{expected_days[-1]}"
        )
    newest = frames[days[-1]]
    features = [c for c in newest.columns if c not in (target, TIMESTAMP_COLUMN)]
    for day in days:  # every day is checked before any memory is committed to the window
        absent = [c for c in features if c not in frames[day].columns]
        if absent:
            raise DataValidationError(
                f"{sources[day]}: missing feature column(s) {', '.join(absent)} that "
                f"{days[-1]} has; every day of a window needs the same features"
            )
    lengths = [len(frames[day]) for day in days]
    # Column-major: each feature is contiguous, as pandas stores a block and trees scan it.
    matrix = np.empty((sum(lengths), len(features)), dtype="float64", order="F")
    targets = []
    offset = 0
    for day, length in zip(days, lengths, strict=True):
        frame = frames.pop(day) if consume else frames[day]
        for j, column in enumerate(features):
            matrix[offset : offset + length, j] = frame[column].to_numpy(dtype="float64")
        # A copy: a view would keep the day's whole float block alive (pandas stores a float
        # target with the features). A one-column frame keeps concat's dtype rules for labels.
        targets.append(frame[[target]].copy())
        offset += length
        del frame
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
    return Window(window, features, days, missing)


def split_holdout(window: Window, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The newest `fraction` of rows is held out; fitting only ever sees the rows before it."""
    n = len(window.frame)
    n_holdout = max(1, math.ceil(n * fraction))
    if n - n_holdout < 1:
        raise TrainingError(f"only {n} row(s) in the window: nothing left to fit after holdout")
    return window.frame.iloc[: n - n_holdout], window.frame.iloc[n - n_holdout :]


def build_pipeline(estimator: str, params: Mapping[str, Any]) -> Pipeline:
    if estimator not in ESTIMATORS:
        raise TrainingError(
            f"unknown estimator {estimator!r}; choose one of {', '.join(sorted(ESTIMATORS))}"
        )
    merged = {**DEFAULT_PARAMS[estimator], **params}
    try:
        model = ESTIMATORS[estimator](**merged)
    except TypeError as exc:
        raise TrainingError(f"bad hyperparameters for {estimator}: {exc}") from None
    # Partial nulls in a feature are allowed by validation. Tree models route them natively;
    # for the others the median fills them at fit and predict time alike, inside the saved model.
    steps = [("model", model)]
    if estimator in NEEDS_IMPUTER:
        steps.insert(0, ("impute", SimpleImputer(strategy="median")))
    return Pipeline(steps)


def fit_window(
    window: Window,
    *,
    target: str,
    holdout_fraction: float,
    min_train_rows: int,
    estimator: str = DEFAULT_ESTIMATOR,
    params: Mapping[str, Any] | None = None,
) -> tuple[TrainedModel, pd.DataFrame]:
    """Fit on the older rows of the window; return the model and the untouched holdout."""
    total = len(window.frame)
    if total < min_train_rows:
        raise TrainingError(
            f"only {total} row(s) in the window {window.days_used[0]}..{window.days_used[-1]}, "
            f"fewer than the minimum of {min_train_rows} (RETRAIN_MIN_TRAIN_ROWS)"
        )
    fit_rows, holdout = split_holdout(window, holdout_fraction)
    classes = sorted(pd.unique(fit_rows[target]).tolist(), key=str)
    if len(classes) < 2:
        raise TrainingError(
            f"the training rows of {window.days_used[0]}..{fit_rows[DAY_COLUMN].iloc[-1]} hold "
            f"a single class ({classes[0]!r} in column '{target}'): a classifier needs two"
        )
    chosen_params = {**DEFAULT_PARAMS.get(estimator, {}), **(params or {})}
    pipeline = build_pipeline(estimator, chosen_params)
    started = time.perf_counter()
    try:
        pipeline.fit(fit_rows[window.features].to_numpy(), fit_rows[target].to_numpy())
    except InvalidParameterError as exc:  # a value out of range: scikit-learn checks it at fit
        raise TrainingError(f"bad hyperparameters for {estimator}: {exc}") from None
    fit_seconds = time.perf_counter() - started
    model = TrainedModel(
        pipeline=pipeline,
        estimator=estimator,
        params=chosen_params,
        features=list(window.features),
        classes=[_plain(c) for c in pipeline.classes_],
        fit_rows=len(fit_rows),
        holdout_rows=len(holdout),
        fit_seconds=fit_seconds,
        fit_end_day=str(fit_rows[DAY_COLUMN].iloc[-1]),
        holdout_start_day=str(holdout[DAY_COLUMN].iloc[0]),
        data_fingerprint=content_hash(window.frame[[*window.features, target]]),
        window_days=list(window.days_used),
    )
    return model, holdout


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


_ENTRY_REF = re.compile(r'"(\d+\.npy)"')
_ID_REF = re.compile(r'"__id__": (\d+)')


def model_to_bytes(pipeline: Pipeline) -> bytes:
    """skops bytes made reproducible: the same model always gives the same sha256.

    skops names array entries and shared-object references after Python object ids and stamps
    the current time, so two dumps of one model differ. Renaming entries in order and fixing
    the time lets the registry see a re-deployed identical model as identical.
    """
    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(pipeline)))
    schema = raw.read("schema.json").decode()
    # The schema lists entries in traversal order, which is the same for the same model.
    renames: dict[str, str] = {}
    for name in _ENTRY_REF.findall(schema):
        renames.setdefault(name, f"{len(renames):06d}.npy")
    # One pass over the schema (MBs for a forest), not one str.replace per entry (hundreds).
    schema = _ENTRY_REF.sub(lambda m: f'"{renames[m.group(1)]}"', schema)
    # Shared-object references use object ids too; number them in order, consistently.
    ids: dict[str, str] = {}
    schema = _ID_REF.sub(
        lambda m: f'"__id__": {ids.setdefault(m.group(1), str(len(ids) + 1))}', schema
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(raw.namelist(), key=lambda n: renames.get(n, n)):
            data = schema.encode() if name == "schema.json" else raw.read(name)
            info = zipfile.ZipInfo(renames.get(name, name), date_time=(1980, 1, 1, 0, 0, 0))
            # Level 1: a forest's float arrays barely compress further at zlib's default level
            # 6 (files ~20 % smaller), which takes three times as long: seconds per model.
            dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return out.getvalue()


def model_from_bytes(data: bytes) -> Pipeline:
    """Load a model file without executing arbitrary code (skops, explicit trust list)."""
    try:
        # loads audits the types itself; listing them first would parse the file twice.
        return sio.loads(data, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException:
        untrusted = set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
        if not untrusted:
            raise
        raise ValueError(
            f"model file holds types not on the trust list: {sorted(untrusted)}"
        ) from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe(model: TrainedModel) -> dict[str, Any]:
    """The JSON-safe facts about a trained model that travel with its file."""
    return {
        "estimator": model.estimator,
        "params": json.loads(json.dumps(model.params, default=str)),
        "features": model.features,
        "classes": model.classes,
        "fit_rows": model.fit_rows,
        "holdout_rows": model.holdout_rows,
        "fit_seconds": round(model.fit_seconds, 4),
        "fit_end_day": model.fit_end_day,
        "holdout_start_day": model.holdout_start_day,
        "data_fingerprint": model.data_fingerprint,
        "window_days": model.window_days,
    }


def window_for(day: str, window_days: int, start_date: str) -> list[str]:
    """The days D-W+1..D of a window, oldest first, never before the first partition."""
    end = dt.date.fromisoformat(day)
    days = [(end - dt.timedelta(days=k)).isoformat() for k in range(window_days - 1, -1, -1)]
    return [d for d in days if d >= start_date]


@functools.cache
def code_version() -> str:
    """Package version plus a digest of the modules that decide what a model is."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in ("validation.py", "sources.py", "training.py", "evaluation.py"):
        digest.update((here / name).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
