"""Classification metrics of a model on held-out rows."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Metrics:
    """A model's classification metrics on some labelled rows (a holdout, or a fresh day)."""

    accuracy: float
    balanced_accuracy: float
    f1_macro: float
    n_holdout: int  # the rows scored
    labels: list[Any]  # every label the model or the rows know, in str order
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, support
    confusion_matrix: list[list[int]]  # rows: true label, columns: predicted, in `labels` order
    unseen_labels: list[Any]  # labels of the rows the model never saw in training
    roc_auc: float | None = None  # binary, both classes present, no unseen label

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def evaluate(
    pipeline: Pipeline, holdout: pd.DataFrame, features: Sequence[str], target: str
) -> Metrics:
    """Classification metrics on the holdout.

    A label the model never saw in training counts as a miss (it cannot be predicted) and still
    shows up in the per-class numbers and the confusion matrix.
    """
    return evaluate_rows(pipeline, holdout, features, target)[0]


def evaluate_rows(
    pipeline: Pipeline, holdout: pd.DataFrame, features: Sequence[str], target: str
) -> tuple[Metrics, np.ndarray]:
    """The metrics, and which rows the model got right (for a paired comparison)."""
    x = holdout[list(features)].to_numpy()
    y_true = holdout[target].to_numpy()
    # One pass over the model: for the forests, boosting and logistic regression offered,
    # predict() is the argmax of predict_proba(), which ROC AUC needs anyway. Scoring is the
    # costliest part of a day's evaluation (the candidate and the live model each).
    proba = pipeline.predict_proba(x)
    y_pred = np.asarray(pipeline.classes_)[np.argmax(proba, axis=1)]
    model_classes = [_plain(c) for c in pipeline.classes_]
    labels = sorted({*model_classes, *(_plain(v) for v in pd.unique(y_true))}, key=str)
    unseen = sorted({_plain(v) for v in pd.unique(y_true)} - set(model_classes), key=str)
    precision, recall, _, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    with warnings.catch_warnings():
        # Predicting a label the rows lack is a fact the per-class numbers show, not a problem.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    present = set(pd.unique(y_true).tolist())
    roc_auc = None
    if len(model_classes) == 2 and len(present) == 2 and not unseen:
        roc_auc = float(roc_auc_score(y_true == pipeline.classes_[1], proba[:, 1]))
    metrics = Metrics(
        accuracy=float(accuracy_score(y_true, y_pred)),
        balanced_accuracy=balanced,
        f1_macro=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        n_holdout=len(holdout),
        labels=labels,
        per_class={
            str(label): {"precision": float(p), "recall": float(r), "support": int(s)}
            for label, p, r, s in zip(labels, precision, recall, support, strict=True)
        },
        confusion_matrix=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        unseen_labels=unseen,
        roc_auc=roc_auc,
    )
    return metrics, np.asarray(y_pred == y_true, dtype=bool)
