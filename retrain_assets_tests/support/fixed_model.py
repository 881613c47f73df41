"""A classifier whose answers a test dictates, and holdouts built from its predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd


class FixedModel:
    """A fitted classifier whose answers the test dictates: column `p` is the index of the
    predicted class, column `s` the probability of the second class (binary models)."""

    def __init__(self, classes: list) -> None:
        self.classes_ = np.array(classes, dtype=object if isinstance(classes[0], str) else None)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[x[:, 0].astype(int)]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if len(self.classes_) == 2:
            return np.column_stack([1 - x[:, 1], x[:, 1]])
        return np.eye(len(self.classes_))[x[:, 0].astype(int)]  # certain of its prediction


def holdout(y_true: list, y_pred: list, classes: list, scores: list | None = None) -> pd.DataFrame:
    index = {c: i for i, c in enumerate(classes)}
    return pd.DataFrame(
        {
            "p": [float(index[c]) for c in y_pred],
            # Without given scores, the probability agrees with the prediction (as in sklearn).
            "s": scores if scores is not None else [0.9 if index[c] else 0.1 for c in y_pred],
            "target": y_true,
        }
    )
