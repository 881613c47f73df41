"""The bare computation: the same ML as the pipeline, as a plain pandas + scikit-learn script.

Per target day: read the window's landing files, concatenate, hold out the newest 20 % of rows,
fit the same estimator with the same parameters (retrain_assets.ml.fit.build_pipeline, so
DEFAULT_PARAMS and seeds are shared), predict and score the holdout with the same metrics, refit
on the whole window when the accuracy reaches the threshold (as RETRAIN_REFIT publishes), and
dump the model with skops. Nothing else: no validation, hashing, metadata, model reload,
champion comparison, registry or Dagster. It runs as its own process so interpreter start-up and
imports count on both sides.

    python -m benchmarks.bare --data-dir D --out-dir O --start-date S --window 14 \
        --days 2026-01-14 [...] [--estimator random_forest] [--params '{}']
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

# The same scikit-learn metrics as ml/metrics.py, called directly: the bare script must not go
# through the service's own code for what it measures.
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from retrain_assets.ml.fit import build_pipeline, fit_pipeline, refit_params
from retrain_assets.settings import load_settings

# The service's defaults, as the pipeline runs them: a passing day (threshold) is refitted.
_DEFAULTS = load_settings({})
HOLDOUT_FRACTION = _DEFAULTS.holdout_fraction
ACCURACY_THRESHOLD = _DEFAULTS.accuracy_threshold


def window_days(day: str, window: int, start_date: str) -> list[str]:
    end = dt.date.fromisoformat(day)
    days = [(end - dt.timedelta(days=k)).isoformat() for k in range(window - 1, -1, -1)]
    return [d for d in days if d >= start_date]


def retrain_day(
    data_dir: Path,
    out_dir: Path,
    day: str,
    *,
    window: int,
    start_date: str,
    estimator: str,
    params: dict[str, Any],
    target: str = "target",
) -> dict[str, Any]:
    paths = [data_dir / f"{d}.parquet" for d in window_days(day, window, start_date)]
    frame = pd.concat([pd.read_parquet(p) for p in paths if p.exists()], ignore_index=True)
    features = [c for c in frame.columns if c != target]
    n_holdout = max(1, math.ceil(len(frame) * HOLDOUT_FRACTION))
    fit, holdout = frame.iloc[: len(frame) - n_holdout], frame.iloc[len(frame) - n_holdout :]
    model = build_pipeline(estimator, params)
    fit_pipeline(model, fit[features].to_numpy(), fit[target].to_numpy())

    x, y = holdout[features].to_numpy(), holdout[target].to_numpy()
    predicted = model.predict(x)
    labels = sorted(np.unique(np.concatenate([model.classes_, y])).tolist())
    precision, recall, _, support = precision_recall_fscore_support(
        y, predicted, labels=labels, zero_division=0
    )
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(y, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "f1_macro": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            str(label): {"precision": float(p), "recall": float(r), "support": int(s)}
            for label, p, r, s in zip(labels, precision, recall, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
    }
    if len(model.classes_) == 2 and len(np.unique(y)) == 2:
        scores = model.predict_proba(x)[:, 1]
        metrics["roc_auc"] = float(roc_auc_score(y == model.classes_[1], scores))

    if metrics["accuracy"] >= ACCURACY_THRESHOLD:
        # What goes live is the same recipe fitted on the whole window (RETRAIN_REFIT).
        model = build_pipeline(estimator, refit_params(model[-1], params))
        fit_pipeline(model, frame[features].to_numpy(), frame[target].to_numpy())
    out_dir.mkdir(parents=True, exist_ok=True)
    sio.dump(model, out_dir / f"{day}.skops")
    return {"day": day, "rows": len(frame), "features": len(features), **metrics}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--start-date", required=True)
    parser.add_argument("--window", type=int, required=True)
    parser.add_argument("--days", nargs="+", required=True)
    parser.add_argument("--estimator", default="random_forest")
    parser.add_argument("--params", default="{}", help="JSON hyperparameters")
    parser.add_argument("--result", type=Path, help="write per-day results here as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = [
        retrain_day(
            args.data_dir,
            args.out_dir,
            day,
            window=args.window,
            start_date=args.start_date,
            estimator=args.estimator,
            params=json.loads(args.params),
        )
        for day in args.days
    ]
    summary = {"days": results, "compute_s": time.perf_counter() - started}
    if args.result:
        args.result.write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
