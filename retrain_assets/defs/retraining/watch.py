"""live_model_metrics: the live model scored on each new day's rows, and the opt-in rollback.

It is scored on the day it served, before that day's retrain can replace it.

The rule between a rollback and the gate: on day D the watch runs first. If the live model is
below the threshold on D's rows and RETRAIN_AUTO_ROLLBACK is on, the most recent earlier live
version that reaches the threshold and beats it by at least RETRAIN_MAX_REGRESSION on those
same rows goes live. D's candidate is then judged by the gate, as always, against the model
live at that point (the rolled-back one). So a rollback never overrides the gate and the gate
never undoes a rollback: each acts on its own evidence, in that order, once per day.
"""

from typing import Any

import dagster as dg
import pandas as pd

from retrain_assets.defs.retraining.evaluate import LiveTracker
from retrain_assets.defs.retraining.ingest import GROUP, raw_dataset
from retrain_assets.ml.monitor import Watch, watch
from retrain_assets.registry import ModelRegistry
from retrain_assets.text import rounded

live_model_metrics = dg.AssetSpec(
    "live_model_metrics",
    group_name=GROUP,
    kinds={"scikitlearn"},
    skippable=True,
    deps=[raw_dataset],
    description="The model live when the day's data arrived, scored on that day's labelled "
    "rows (its real next-day accuracy), next to the accuracy it showed on its own holdout. "
    "Not materialised when no live model is fresh for the day.",
)


def watch_day(
    day: str,
    rows: pd.DataFrame,
    *,
    registry: ModelRegistry,
    tracker: LiveTracker,
    target: str,
    threshold: float,
    max_regression: float,
    auto_rollback: bool,
    run_id: str,
) -> Watch:
    """The day's watch against the model live after the day before; the tracker follows a
    rollback. The keywords are ml.monitor.watch's, handed through."""
    live, _ = tracker.current(registry.live_version())
    seen = watch(
        day,
        rows,
        live,
        registry=registry,
        target=target,
        threshold=threshold,
        max_regression=max_regression,
        auto_rollback=auto_rollback,
        run_id=run_id,
    )
    if seen.rolled_back_to is not None:
        tracker.live = seen.rolled_back_to
    return seen


def watch_metadata(watch: Watch) -> dict[str, Any] | None:
    """live_model_metrics[day]'s metadata (plotted across days), or None when not scored."""
    score = watch.score
    if score.metrics is None:
        return None
    metrics = score.metrics
    metadata: dict[str, Any] = {
        "accuracy": metrics.accuracy,
        "balanced_accuracy": metrics.balanced_accuracy,
        "f1_macro": metrics.f1_macro,
        "rows": metrics.n_holdout,
        "live_version": score.version,
        "threshold": score.threshold,
        "below_threshold": score.below_threshold,
        "note": score.note,
    }
    if score.holdout_accuracy is not None:
        metadata["holdout_accuracy"] = score.holdout_accuracy
    if metrics.roc_auc is not None:
        metadata["roc_auc"] = metrics.roc_auc
    if watch.rolled_back_to:
        metadata["rolled_back_to"] = watch.rolled_back_to.version
        metadata["rolled_back_to_accuracy"] = watch.rollback_accuracy
    return rounded(metadata)
