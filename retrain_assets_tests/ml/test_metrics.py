"""ml/metrics.py: holdout metrics checked by hand and against scikit-learn's own predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.metrics import evaluate
from retrain_assets_tests.support.fixed_model import FixedModel, holdout


def test_three_class_metrics_match_a_hand_count() -> None:
    y_true = ["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"]
    y_pred = ["a", "a", "a", "b", "b", "b", "b", "c", "c", "a"]
    classes = ["a", "b", "c"]
    m = evaluate(FixedModel(classes), holdout(y_true, y_pred, classes), ["p", "s"], "target")
    # 8 of 10 right. Recall a 3/4, b 3/3, c 2/3. Predicted a: 4 (3 right), b: 4 (3 right),
    # c: 2 (2 right) -> precision 3/4, 3/4, 1. F1 a 0.75, b 6/7, c 0.8.
    assert m.accuracy == pytest.approx(0.8)
    assert m.balanced_accuracy == pytest.approx((3 / 4 + 1 + 2 / 3) / 3)
    assert m.f1_macro == pytest.approx((0.75 + 6 / 7 + 0.8) / 3)
    assert m.confusion_matrix == [[3, 1, 0], [0, 3, 0], [1, 0, 2]]
    assert m.labels == ["a", "b", "c"]
    assert m.per_class == {
        "a": {"precision": pytest.approx(0.75), "recall": pytest.approx(0.75), "support": 4},
        "b": {"precision": pytest.approx(0.75), "recall": pytest.approx(1.0), "support": 3},
        "c": {"precision": pytest.approx(1.0), "recall": pytest.approx(2 / 3), "support": 3},
    }
    assert m.n_holdout == 10
    assert m.unseen_labels == []
    assert m.roc_auc is None  # not binary
    json.dumps(m.as_dict())  # travels as JSON to storage, the registry card and Dagster metadata


def test_binary_metrics_include_roc_auc() -> None:
    # Scores 0.1, 0.4 for the negatives, 0.35, 0.8 for the positives: of the four
    # (positive, negative) pairs, three are ranked right -> AUC 0.75.
    m = evaluate(
        FixedModel([0, 1]),
        holdout([0, 0, 1, 1], [0, 0, 0, 1], [0, 1], scores=[0.1, 0.4, 0.35, 0.8]),
        ["p", "s"],
        "target",
    )
    assert m.roc_auc == pytest.approx(0.75)
    assert m.accuracy == pytest.approx(0.75)
    assert m.confusion_matrix == [[2, 0], [1, 1]]
    assert m.per_class["1"]["recall"] == pytest.approx(0.5)
    assert m.labels == [0, 1]


def test_holdout_label_never_seen_in_training_counts_as_a_miss() -> None:
    classes = ["cat", "dog"]
    y_true = ["cat", "dog", "cat", "fox", "fox"]
    y_pred = ["cat", "dog", "cat", "dog", "cat"]
    m = evaluate(FixedModel(classes), holdout(y_true, y_pred, classes), ["p", "s"], "target")
    assert m.accuracy == pytest.approx(3 / 5)
    assert m.unseen_labels == ["fox"]
    assert m.labels == ["cat", "dog", "fox"]
    assert m.per_class["fox"] == {"precision": 0.0, "recall": 0.0, "support": 2}
    assert m.confusion_matrix == [[2, 0, 0], [0, 1, 0], [1, 1, 0]]
    assert m.roc_auc is None  # the model is binary but the holdout is not


def test_evaluate_a_real_pipeline_with_an_unseen_label() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    y = np.where(x[:, 0] > 0, "up", "down")
    pipeline = build_pipeline("logistic_regression", {}).fit(x[:100], y[:100])
    rows = pd.DataFrame({"a": x[100:, 0], "b": x[100:, 1], "target": y[100:]})
    rows.loc[:4, "target"] = "sideways"
    m = evaluate(pipeline, rows, ["a", "b"], "target")
    assert m.unseen_labels == ["sideways"]
    assert m.per_class["sideways"]["support"] == 5
    assert m.accuracy <= 15 / 20
    assert m.roc_auc is None


def test_binary_roc_auc_from_a_real_pipeline() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    pipeline = build_pipeline("logistic_regression", {}).fit(x[:150], y[:150])
    rows = pd.DataFrame({"a": x[150:, 0], "b": x[150:, 1], "target": y[150:]})
    m = evaluate(pipeline, rows, ["a", "b"], "target")
    assert 0.9 < m.roc_auc <= 1.0
    assert m.n_holdout == 50


@pytest.mark.parametrize(
    "estimator", ["random_forest", "hist_gradient_boosting", "logistic_regression"]
)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_metrics_from_one_probability_pass_equal_those_from_predict(
    estimator: str, n_classes: int
) -> None:
    # evaluate() takes predictions as the argmax of predict_proba, to score each model once.
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(400, 3))
    y = np.digitize(x[:, 0] + 0.3 * rng.normal(size=400), [-0.4, 0.4][: n_classes - 1])
    small = {
        "random_forest": {"n_estimators": 10},
        "hist_gradient_boosting": {"max_iter": 10},
        "logistic_regression": {},
    }[estimator]
    pipeline = build_pipeline(estimator, small).fit(x[:300], y[:300])
    rows = pd.DataFrame({"a": x[300:, 0], "b": x[300:, 1], "c": x[300:, 2], "target": y[300:]})
    m = evaluate(pipeline, rows, ["a", "b", "c"], "target")
    predicted = pipeline.predict(x[300:])
    assert m.accuracy == pytest.approx(float(np.mean(predicted == y[300:])))
    assert (
        m.confusion_matrix
        == pd.crosstab(
            pd.Categorical(y[300:], categories=range(n_classes)),
            pd.Categorical(predicted, categories=range(n_classes)),
            dropna=False,
        )
        .to_numpy()
        .tolist()
    )
