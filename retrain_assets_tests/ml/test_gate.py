"""ml.metrics and ml.gate: holdout metrics checked by hand, fair champions, the gate, judging."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.gate import (
    REGRESSION_ALPHA,
    Comparison,
    GateDecision,
    LiveModel,
    champion_is_fair,
    compare,
    decide_gate,
    judge,
    unseen_by,
)
from retrain_assets.ml.info import ModelInfo
from retrain_assets.ml.metrics import evaluate
from retrain_assets.ml.window import DAY_COLUMN
from retrain_assets.registry import ModelCard, RegistrySnapshot, VersionEntry


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


def test_three_class_metrics_match_a_hand_count() -> None:
    y_true = ["a", "a", "a", "a", "b", "b", "b", "c", "c", "c"]
    y_pred = ["a", "a", "a", "b", "b", "b", "b", "c", "c", "a"]
    classes = ["a", "b", "c"]
    m = evaluate(FixedModel(classes), holdout(y_true, y_pred, classes), ["p", "s"], "target")
    # 8 of 10 right. Recall a 3/4, b 3/3, c 2/3. Predicted a: 4 (3 right), b: 4 (3 right),
    # c: 2 (2 right) -> precision 3/4, 3/4, 1. F1 a 0.75, b 6/7, c 0.8.
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 + 2 / 3) / 3)
    assert m["f1_macro"] == pytest.approx((0.75 + 6 / 7 + 0.8) / 3)
    assert m["confusion_matrix"] == [[3, 1, 0], [0, 3, 0], [1, 0, 2]]
    assert m["labels"] == ["a", "b", "c"]
    assert m["per_class"] == {
        "a": {"precision": pytest.approx(0.75), "recall": pytest.approx(0.75), "support": 4},
        "b": {"precision": pytest.approx(0.75), "recall": pytest.approx(1.0), "support": 3},
        "c": {"precision": pytest.approx(1.0), "recall": pytest.approx(2 / 3), "support": 3},
    }
    assert m["n_holdout"] == 10
    assert m["unseen_labels"] == []
    assert m["roc_auc"] is None  # not binary
    json.dumps(m)  # travels as JSON to storage, the registry card and Dagster metadata


def test_binary_metrics_include_roc_auc() -> None:
    # Scores 0.1, 0.4 for the negatives, 0.35, 0.8 for the positives: of the four
    # (positive, negative) pairs, three are ranked right -> AUC 0.75.
    m = evaluate(
        FixedModel([0, 1]),
        holdout([0, 0, 1, 1], [0, 0, 0, 1], [0, 1], scores=[0.1, 0.4, 0.35, 0.8]),
        ["p", "s"],
        "target",
    )
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]
    assert m["per_class"]["1"]["recall"] == pytest.approx(0.5)
    assert m["labels"] == [0, 1]


def test_holdout_label_never_seen_in_training_counts_as_a_miss() -> None:
    classes = ["cat", "dog"]
    y_true = ["cat", "dog", "cat", "fox", "fox"]
    y_pred = ["cat", "dog", "cat", "dog", "cat"]
    m = evaluate(FixedModel(classes), holdout(y_true, y_pred, classes), ["p", "s"], "target")
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["unseen_labels"] == ["fox"]
    assert m["labels"] == ["cat", "dog", "fox"]
    assert m["per_class"]["fox"] == {"precision": 0.0, "recall": 0.0, "support": 2}
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 1, 0], [1, 1, 0]]
    assert m["roc_auc"] is None  # the model is binary but the holdout is not


def test_evaluate_a_real_pipeline_with_an_unseen_label() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 2))
    y = np.where(x[:, 0] > 0, "up", "down")
    pipeline = build_pipeline("logistic_regression", {}).fit(x[:100], y[:100])
    rows = pd.DataFrame({"a": x[100:, 0], "b": x[100:, 1], "target": y[100:]})
    rows.loc[:4, "target"] = "sideways"
    m = evaluate(pipeline, rows, ["a", "b"], "target")
    assert m["unseen_labels"] == ["sideways"]
    assert m["per_class"]["sideways"]["support"] == 5
    assert m["accuracy"] <= 15 / 20
    assert m["roc_auc"] is None


def test_binary_roc_auc_from_a_real_pipeline() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    pipeline = build_pipeline("logistic_regression", {}).fit(x[:150], y[:150])
    rows = pd.DataFrame({"a": x[150:, 0], "b": x[150:, 1], "target": y[150:]})
    m = evaluate(pipeline, rows, ["a", "b"], "target")
    assert 0.9 < m["roc_auc"] <= 1.0
    assert m["n_holdout"] == 50


# ---- fair champion -----------------------------------------------------------------------

LIVE = {"version": "0.1.4", "features": ["a", "b"], "fit_end_day": "2026-03-04"}


def test_no_champion_is_not_fair() -> None:
    assert champion_is_fair(None, ["a", "b"]) == (False, "no live model")


def test_champion_with_other_features_is_not_fair() -> None:
    fair, why = champion_is_fair(LIVE, ["a", "b", "c"])
    assert not fair and "other features" in why
    # The same features in another order: the live model is scored in its own order.
    assert champion_is_fair(LIVE, ["b", "a"])[0]


def test_champion_that_never_saw_a_label_is_not_fair() -> None:
    fair, why = champion_is_fair({**LIVE, "classes": [0, 1]}, ["a", "b"], [0, 1, 2])
    assert not fair and "labels changed" in why
    assert champion_is_fair({**LIVE, "classes": [0, 1, 2]}, ["a", "b"], [0, 1])[0]


def test_champion_of_unknown_training_end_is_not_fair() -> None:
    # Without fit_end_day nobody can tell which rows it has seen.
    fair, _ = champion_is_fair({"version": "0.1.0", "features": ["a", "b"]}, ["a", "b"])
    assert not fair


def test_only_rows_after_the_training_end_are_unseen() -> None:
    days = pd.Series(pd.Categorical(["2026-03-03", "2026-03-04", "2026-03-05", "2026-03-05"]))
    assert unseen_by("2026-03-04", days).tolist() == [False, False, True, True]
    assert not unseen_by("2026-03-05", days).any()  # trained on the whole holdout


# ---- gate --------------------------------------------------------------------------------


def comparison(rows: int, live_only: int, candidate_only: int, both: int) -> Comparison:
    """`rows` compared: `both` right for both, and the disputed rows split as given."""
    live = np.zeros(rows, dtype=bool)
    cand = np.zeros(rows, dtype=bool)
    live[:both] = cand[:both] = True
    live[both : both + live_only] = True
    cand[both + live_only : both + live_only + candidate_only] = True
    return compare("0.1.3", cand, live)


def gate(accuracy: float, c: Comparison | None = None, **kw) -> GateDecision:
    kw.setdefault("n_holdout", 100)
    return decide_gate(
        accuracy, kw.pop("threshold", 0.8), kw.pop("max_regression", 0.02), comparison=c, **kw
    )


def test_compare_counts_the_disputed_rows() -> None:
    c = comparison(10, live_only=3, candidate_only=1, both=5)
    assert (c.rows, c.live_only_right, c.candidate_only_right) == (10, 3, 1)
    assert c.live_accuracy == pytest.approx(0.8) and c.candidate_accuracy == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("live_only", "candidate_only", "p"),
    [(5, 0, 0.5**5), (3, 1, 5 / 16), (0, 0, 1.0), (0, 4, 1.0)],
)
def test_p_value_is_the_exact_one_sided_mcnemar_test(
    live_only: int, candidate_only: int, p: float
) -> None:
    # P(live wins >= live_only of the disputed rows | a fair coin decides each).
    c = comparison(20, live_only, candidate_only, both=10)
    assert c.p_value == pytest.approx(p)


def test_gate_passes_without_champion_when_above_threshold() -> None:
    d = gate(0.91)
    assert d.passed and d.rule == "passed"
    assert "0.9100" in d.reason and "0.8000" in d.reason
    assert "no fair live model" in d.reason


def test_gate_accuracy_equal_to_threshold_passes() -> None:
    assert gate(80 / 100).passed
    assert gate(0.8, comparison(100, 1, 0, 80)).passed


def test_gate_just_below_threshold_fails_with_the_numbers() -> None:
    d = gate(0.7999)
    assert not d.passed
    assert d.rule == "below_threshold"
    assert d.reason == "accuracy 0.7999 < threshold 0.8000"


def test_gate_below_threshold_fails_even_if_better_than_champion() -> None:
    d = gate(0.75, comparison(100, 0, 10, 60))
    assert not d.passed and d.rule == "below_threshold"


def test_gate_needs_its_minimum_of_holdout_rows() -> None:
    d = gate(1.0, n_holdout=22, min_holdout_rows=50)
    assert not d.passed and d.rule == "not_enough_evidence"
    assert "22 holdout rows" in d.reason and "50" in d.reason
    assert "RETRAIN_MIN_HOLDOUT_ROWS" in d.reason
    assert gate(0.9, n_holdout=50, min_holdout_rows=50).passed


def test_gate_blocks_a_significant_regression_beyond_the_margin_with_the_numbers() -> None:
    # Live right on 20 rows the candidate misses, the candidate on 2 the live model misses.
    c = comparison(100, live_only=20, candidate_only=2, both=70)
    d = gate(0.85, c)
    assert not d.passed and d.rule == "regression_vs_champion"
    assert d.reason == (
        f"accuracy 0.7200 vs live 0.1.3 0.9000 on the same 100 new rows: 0.1800 worse, more "
        f"than the allowed 0.0200 (p={c.p_value:.3f})"
    )
    assert c.p_value < REGRESSION_ALPHA
    facts = d.as_dict()
    assert facts["compared_rows"] == 100 and facts["champion_accuracy"] == pytest.approx(0.9)
    assert facts["candidate_accuracy_compared"] == pytest.approx(0.72)
    assert facts["accuracy"] == 0.85 and facts["champion_version"] == "0.1.3"


def test_gate_passes_a_gap_that_is_not_significant_and_says_so() -> None:
    # 0.1 worse on 10 rows: live 2 disputed rows to 1 is what chance gives.
    c = comparison(10, live_only=2, candidate_only=1, both=7)
    d = gate(0.85, c)
    assert d.passed
    assert "0.1000 below live 0.1.3 (0.9000) on the same 10 new rows" in d.reason
    assert "not a significant regression (p=0.50)" in d.reason


@pytest.mark.parametrize(
    ("live_only", "candidate_only", "max_regression"),
    [(30, 28, 0.02), (60, 50, 0.1), (5, 5, 0.0)],
)
def test_gate_passes_within_the_margin_however_certain(
    live_only: int, candidate_only: int, max_regression: float
) -> None:
    # Gaps of exactly the margin pass: 0.02 on 100 rows, 0.1 on 100 rows, 0 on 100 rows.
    c = comparison(100, live_only, candidate_only, both=100 - live_only - candidate_only)
    d = gate(0.9, c, max_regression=max_regression)
    assert d.passed, d.reason
    assert "0.1.3" in d.reason


def test_gate_passes_when_better_than_champion() -> None:
    d = gate(0.95, comparison(40, live_only=1, candidate_only=4, both=30))
    assert d.passed
    # Better than the live model: no talk of being "within" a margin of it.
    assert d.reason == (
        "accuracy 0.9500 >= threshold 0.8000; candidate 0.8500 vs live 0.1.3 0.7750 "
        "on the same 40 new rows"
    )


def test_gate_passing_slightly_below_champion_says_by_how_much() -> None:
    d = gate(0.89, comparison(100, live_only=3, candidate_only=2, both=85))
    assert d.passed
    assert d.reason == (
        "accuracy 0.8900 >= threshold 0.8000; 0.0100 below live 0.1.3 (0.8800) on the same "
        "100 new rows, within the allowed 0.0200"
    )


INFO = ModelInfo(
    estimator="random_forest",
    params={},
    features=["p", "s"],
    classes=[0, 1],
    fit_rows=20,
    holdout_rows=5,
    fit_seconds=0.1,
    fit_end_day="2026-03-04",
    holdout_start_day="2026-03-05",
    data_fingerprint="f" * 64,
    window_days=["2026-03-04", "2026-03-05", "2026-03-06"],
    refit=False,
    sha256="c" * 64,
    partition="2026-03-06",
    target="target",
    source="demo",
    code_version="test",
    run_id="run",
)
LIVE_MODEL = LiveModel(
    "0.1.0",
    ModelCard.from_dict({"version": "0.1.0", "features": ["p", "s"], "fit_end_day": "2026-03-05"}),
    FixedModel([0, 1]),
)
SNAPSHOT = RegistrySnapshot(
    (VersionEntry("0.1.0", "a" * 64, ("p", "s"), "random_forest"),), "0.1.0", "2026-03-05"
)


def dated(rows: pd.DataFrame, days: list[str]) -> pd.DataFrame:
    return rows.assign(**{DAY_COLUMN: pd.Categorical(days, ordered=True)})


def judged(candidate: FixedModel, rows: pd.DataFrame, threshold: float = 0.8, **kw):
    return judge(
        "2026-03-06",
        candidate,
        INFO,
        rows,
        live=kw.pop("live", LIVE_MODEL),
        snapshot=SNAPSHOT,
        target="target",
        threshold=threshold,
        max_regression=0.02,
        **kw,
    )


def test_judge_compares_the_live_model_on_the_rows_it_never_saw() -> None:
    candidate = FixedModel([0, 1])
    # The first two rows are of 2026-03-05, which the live model was trained on.
    rows = dated(
        holdout([0, 1, 1, 0, 1], [0, 1, 1, 0, 1], [0, 1]),
        ["2026-03-05", "2026-03-05", "2026-03-06", "2026-03-06", "2026-03-06"],
    )
    verdict = judged(candidate, rows)
    assert verdict.gate.passed and verdict.champion["version"] == "0.1.0"
    assert verdict.gate.compared_rows == 3
    assert verdict.champion["metrics"]["n_holdout"] == 3
    assert verdict.gate.n_holdout == 5
    assert "3 holdout rows after its training end (2026-03-05)" in verdict.champion_note
    assert verdict.live_version == "0.1.0"
    assert verdict.plan is None  # planned for what will be published: with_plan
    planned = verdict.with_plan(SNAPSHOT, INFO)
    assert (planned.plan.event, planned.plan.version) == ("deployed", "0.1.1")
    assert planned.outcome == "deployed"
    blocked = judged(candidate, rows, threshold=1.01)
    assert blocked.with_plan(SNAPSHOT, INFO).plan is None and blocked.outcome == "blocked"


def test_judge_leaves_out_a_live_model_trained_past_the_whole_holdout() -> None:
    # A backfill of an old day: the live model has seen every holdout row.
    rows = dated(holdout([0, 1], [0, 1], [0, 1]), ["2026-03-04", "2026-03-05"])
    verdict = judged(FixedModel([0, 1]), rows)
    assert verdict.champion is None and verdict.gate.champion_accuracy is None
    assert "covers this whole holdout" in verdict.champion_note
    assert verdict.gate.passed


def test_judge_blocks_a_holdout_below_the_minimum() -> None:
    rows = dated(holdout([0, 1], [0, 1], [0, 1]), ["2026-03-06", "2026-03-06"])
    verdict = judged(FixedModel([0, 1]), rows, min_holdout_rows=3)
    assert verdict.gate.rule == "not_enough_evidence" and verdict.outcome == "blocked"


def test_judge_goes_on_when_labels_changed_type_and_the_live_model_cannot_score() -> None:
    # Labels switched from 0/1 to strings: the live model is not compared, the day goes on.
    candidate = FixedModel(["down", "up"])
    rows = dated(
        holdout(["up", "down", "up"], ["up", "down", "up"], ["down", "up"]), ["2026-03-06"] * 3
    )
    verdict = judged(candidate, rows)
    assert verdict.champion is None
    assert verdict.champion_note.startswith("live model 0.1.0 cannot score these rows")
    assert verdict.gate.passed and verdict.with_plan(SNAPSHOT, INFO).outcome == "deployed"


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
    assert m["accuracy"] == pytest.approx(float(np.mean(predicted == y[300:])))
    assert (
        m["confusion_matrix"]
        == pd.crosstab(
            pd.Categorical(y[300:], categories=range(n_classes)),
            pd.Categorical(predicted, categories=range(n_classes)),
            dropna=False,
        )
        .to_numpy()
        .tolist()
    )
