"""Scoring a model on held-out rows, and the deploy gate's decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def evaluate(
    pipeline: Pipeline, holdout: pd.DataFrame, features: Sequence[str], target: str
) -> dict[str, Any]:
    """Classification metrics on the holdout.

    A label the model never saw in training counts as a miss (it cannot be predicted) and still
    shows up in the per-class numbers and the confusion matrix.
    """
    x = holdout[list(features)].to_numpy()
    y_true = holdout[target].to_numpy()
    y_pred = pipeline.predict(x)
    model_classes = [_plain(c) for c in pipeline.classes_]
    labels = sorted({*model_classes, *(_plain(v) for v in pd.unique(y_true))}, key=str)
    unseen = sorted({_plain(v) for v in pd.unique(y_true)} - set(model_classes), key=str)
    precision, recall, _, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "n_holdout": len(holdout),
        "labels": labels,
        "per_class": {
            str(label): {
                "precision": float(p),
                "recall": float(r),
                "support": int(s),
            }
            for label, p, r, s in zip(labels, precision, recall, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "unseen_labels": unseen,
        "roc_auc": None,
    }
    present = set(pd.unique(y_true).tolist())
    if len(model_classes) == 2 and len(present) == 2 and not unseen:
        scores = pipeline.predict_proba(x)[:, 1]
        metrics["roc_auc"] = float(roc_auc_score(y_true == pipeline.classes_[1], scores))
    return metrics


def champion_is_fair(
    champion: Mapping[str, Any] | None, features: Sequence[str], holdout_start_day: str
) -> tuple[bool, str]:
    """Whether the live model may judge a candidate on this candidate's holdout.

    It must use the same features, and its training data must end before the holdout starts: a
    live model trained on later days (a backfill of an old day) has seen the holdout.
    """
    if champion is None:
        return False, "no live model"
    if list(champion.get("features", [])) != list(features):
        return False, "live model uses other features"
    fit_end = champion.get("fit_end_day") or ""
    if not fit_end:
        return False, f"live model {champion.get('version')} does not record its training end"
    if not fit_end < holdout_start_day:
        return False, (
            f"live model {champion.get('version')} was trained on data up to {fit_end}, "
            f"not before this holdout starts ({holdout_start_day})"
        )
    return True, f"live model {champion.get('version')} is a fair judge"


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    rule: str  # "passed", "below_threshold", "regression_vs_champion"
    reason: str
    accuracy: float
    threshold: float
    champion_version: str | None
    champion_accuracy: float | None
    max_regression: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_gate(
    accuracy: float,
    threshold: float,
    max_regression: float,
    champion_version: str | None = None,
    champion_accuracy: float | None = None,
) -> GateDecision:
    """Pass iff accuracy >= threshold and (no fair champion, or accuracy >= champion - margin)."""

    def result(passed: bool, rule: str, reason: str) -> GateDecision:
        return GateDecision(
            passed,
            rule,
            reason,
            accuracy,
            threshold,
            champion_version,
            champion_accuracy,
            max_regression,
        )

    if accuracy < threshold:
        return result(
            False, "below_threshold", f"accuracy {accuracy:.4f} < threshold {threshold:.4f}"
        )
    # Accuracies are ratios of counts: 0.82 vs 0.92 - 0.1 (0.8200000000000001 in floating
    # point) is equal, and equal passes.
    if champion_accuracy is not None and accuracy < champion_accuracy - max_regression - 1e-9:
        return result(
            False,
            "regression_vs_champion",
            f"accuracy {accuracy:.4f} vs live {champion_version} {champion_accuracy:.4f} "
            f"with max regression {max_regression:.4f}",
        )
    against = (
        f" and within {max_regression:.4f} of live {champion_version} ({champion_accuracy:.4f})"
        if champion_accuracy is not None
        else " (no fair live model to compare)"
    )
    return result(True, "passed", f"accuracy {accuracy:.4f} >= threshold {threshold:.4f}{against}")
