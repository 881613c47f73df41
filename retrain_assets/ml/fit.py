"""Fitting a classifier on the older rows of a window; the estimators and their defaults."""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from retrain_assets.data.validation import content_hash, shown
from retrain_assets.fsutil import release_heap_memory
from retrain_assets.ml.window import (
    DAY_COLUMN,
    InsufficientDataError,
    TrainingError,
    Window,
    split_holdout,
)

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
    refit: bool = False  # fitted again on the whole window, holdout included, once it passed


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
        raise InsufficientDataError(
            f"only {total} row(s) in the window {window.days_used[0]}..{window.days_used[-1]}, "
            f"fewer than the minimum of {min_train_rows} (RETRAIN_MIN_TRAIN_ROWS)"
        )
    fit_rows, holdout = split_holdout(window, holdout_fraction)
    classes = sorted(pd.unique(fit_rows[target]).tolist(), key=str)
    if len(classes) < 2:
        raise TrainingError(
            f"the training rows of {window.days_used[0]}..{fit_rows[DAY_COLUMN].iloc[-1]} hold "
            f"a single class ({shown(classes[0])} in column '{target}'): a classifier needs two"
        )
    chosen_params = {**DEFAULT_PARAMS.get(estimator, {}), **(params or {})}
    pipeline = build_pipeline(estimator, chosen_params)
    started = time.perf_counter()
    try:
        fit_pipeline(pipeline, fit_rows[window.features].to_numpy(), fit_rows[target].to_numpy())
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


def refit(model: TrainedModel, window: Window, target: str) -> TrainedModel:
    """The same estimator and parameters fitted on every row of the window, the newest too
    (a gradient boosting for the judged fit's number of rounds: refit_params).

    The gate vouched for the recipe: fitted on the older rows, it scored its accuracy on the
    newest ones. The model that goes live then learns from those newest rows as well.
    """
    pipeline = build_pipeline(model.estimator, refit_params(model.pipeline[-1], model.params))
    frame = window.frame
    started = time.perf_counter()
    fit_pipeline(pipeline, frame[window.features].to_numpy(), frame[target].to_numpy())
    return replace(
        model,
        pipeline=pipeline,
        classes=[_plain(c) for c in pipeline.classes_],
        fit_rows=len(frame),
        fit_seconds=time.perf_counter() - started,
        fit_end_day=str(frame[DAY_COLUMN].iloc[-1]),
        refit=True,
    )


def fit_pipeline(pipeline: Pipeline, x: np.ndarray, y: np.ndarray) -> Pipeline:
    """Fit, copying the window only where the estimator has to.

    A forest fits on a column-major float32 copy of x, which its trees scan by column and which
    scikit-learn would make anyway. A gradient boosting that stops early is validated on the
    newest tenth of its rows: its own split draws a random tenth and copies every row to do so
    (160 MB more on a 1M x 20 window, the peak of a large fit), while the newest rows stand for
    tomorrow better and a slice of them is a view.
    """
    name, estimator = pipeline.steps[-1]
    alone = len(pipeline.steps) == 1  # no imputer in front, which would transform x first
    if alone and isinstance(estimator, RandomForestClassifier):
        x = np.asfortranarray(x, dtype=np.float32)
    cut = _validation_start(estimator, y) if alone else None
    if cut is None:
        pipeline.fit(x, y)
    else:
        chosen = estimator.early_stopping
        # 'auto' would decide on the rows left for training, which may fall below its 10,000.
        estimator.set_params(early_stopping=True)
        try:
            pipeline.fit(x[:cut], y[:cut], **{f"{name}__X_val": x[cut:], f"{name}__y_val": y[cut:]})
        finally:
            estimator.set_params(early_stopping=chosen)  # the model file keeps the recipe
    release_heap_memory()
    return pipeline


def _validation_start(estimator: Any, y: np.ndarray) -> int | None:
    """The row where a boosting's early-stopping validation begins, or None to leave the
    split to scikit-learn (or to no split at all)."""
    if not isinstance(estimator, HistGradientBoostingClassifier):
        return None
    if estimator.class_weight is not None:
        return None  # scikit-learn weighs its validation rows by class too
    stopping, fraction, rows = estimator.early_stopping, estimator.validation_fraction, len(y)
    # The rules of HistGradientBoostingClassifier.fit: 'auto' stops early above 10,000 rows;
    # validation_fraction is a share of the rows or (an integer) a number of them. Any other
    # value is left for scikit-learn to refuse with its own message.
    if isinstance(stopping, str):
        stops = stopping == "auto" and rows > 10_000
    else:
        stops = isinstance(stopping, bool | np.bool_) and bool(stopping)
    if not stops or isinstance(fraction, bool | np.bool_):
        return None
    if isinstance(fraction, numbers.Integral):
        cut = rows - int(fraction)
    elif isinstance(fraction, numbers.Real):
        cut = rows - math.ceil(rows * fraction)
    else:
        return None
    # scikit-learn's stratified split gives every class validation rows, and refuses a
    # validation label the fit never saw: the newest rows must hold exactly the fit's labels.
    if not 0 < cut < rows or set(pd.unique(y[cut:])) != set(pd.unique(y[:cut])):
        return None
    return cut


def refit_params(judged: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The refit's parameters: the judged fit's, except that a gradient boosting trains exactly
    as many rounds as the judged fit did, on every row, with early stopping off.

    Left on, early stopping sets aside another 10 % of the window at random to decide when to
    stop: the published model would not learn from every row, and the split copies the
    window. Off whether or not the judged fit stopped early: 'auto' turns it on above 10,000
    rows, which the whole window can pass when its older 80 % did not.
    """
    chosen = dict(params)
    if isinstance(judged, HistGradientBoostingClassifier):
        chosen.update(max_iter=int(judged.n_iter_), early_stopping=False)
    return chosen


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


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
        "refit": model.refit,
    }
