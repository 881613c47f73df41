"""ml/gate.py: fair champions, the paired comparison, the gate's rules and their messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain_assets.ml.gate import (
    REGRESSION_ALPHA,
    Comparison,
    GateDecision,
    champion_is_fair,
    compare,
    decide_gate,
    unseen_by,
)

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
