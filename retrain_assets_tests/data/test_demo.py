"""data/demo.py: the built-in demo stream, deterministic, drifting, with a few bad days."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from retrain_assets.data.demo import (
    DEMO_EPOCH,
    DEMO_FEATURES,
    DemoSource,
    demo_day,
    demo_is_bad_day,
)

YEAR = [DEMO_EPOCH + dt.timedelta(days=k) for k in range(365)]


def test_demo_day_is_deterministic() -> None:
    pd.testing.assert_frame_equal(demo_day("2026-03-05"), demo_day("2026-03-05"))
    first, label = DemoSource("target", 10).load("2026-03-05")
    second, _ = DemoSource("target", 10).load("2026-03-05")
    pd.testing.assert_frame_equal(first, second)
    assert label == "demo stream 2026-03-05"


def test_demo_days_differ() -> None:
    a, b = demo_day("2026-03-05"), demo_day("2026-03-06")
    assert not a[list(DEMO_FEATURES)].head(50).equals(b[list(DEMO_FEATURES)].head(50))
    assert a["timestamp"].dt.date.unique().tolist() == [dt.date(2026, 3, 5)]
    assert b["timestamp"].dt.date.unique().tolist() == [dt.date(2026, 3, 6)]


def test_demo_day_passes_validation_in_time_order() -> None:
    frame, _ = DemoSource("label", 10).load("2026-07-01")
    assert list(frame.columns) == [*DEMO_FEATURES, "label", "timestamp"]
    assert 350 <= len(frame) < 450
    assert frame["timestamp"].is_monotonic_increasing
    assert set(frame["label"]) == {0, 1}


def _concat(days: list[dt.date]) -> pd.DataFrame:
    return pd.concat([demo_day(d.isoformat()) for d in days], ignore_index=True)


def test_demo_stream_drifts_over_the_year() -> None:
    january = _concat(YEAR[:31])
    december = _concat(YEAR[-31:])
    # f0 has unit spread and about 12,000 rows a month, so a monthly mean without drift would
    # move by ~0.01 (standard error sqrt(2/12000) ~ 0.013); demand 0.5, forty times that.
    n = len(january)
    assert n > 10_000
    assert december["f0"].mean() - january["f0"].mean() > 0.5
    assert january["f0"].std() == pytest.approx(1.0, abs=0.05)
    # Concept drift: a model fitted on January loses accuracy on December.
    features = list(DEMO_FEATURES)
    model = LogisticRegression(max_iter=500).fit(january[features], january["target"])
    january_late = _concat(YEAR[31:38])
    on_january = (model.predict(january_late[features]) == january_late["target"]).mean()
    on_december = (model.predict(december[features]) == december["target"]).mean()
    assert on_january - on_december > 0.05


def test_bad_days_are_a_few_percent_and_never_in_the_first_week() -> None:
    bad = [d for d in YEAR if demo_is_bad_day(d)]
    assert 4 <= len(bad) <= 25, f"{len(bad)} bad days in a year"  # about 1 in 25
    assert all((d - DEMO_EPOCH).days >= 7 for d in bad)
    assert not any(demo_is_bad_day(DEMO_EPOCH + dt.timedelta(days=k)) for k in range(7))
    # Deterministic: the same date is always (or never) bad.
    assert [d for d in YEAR if demo_is_bad_day(d)] == bad


def _disagreement(day: dt.date) -> float:
    features = list(DEMO_FEATURES)
    before = _concat([day - dt.timedelta(days=k) for k in range(1, 6)])
    model = LogisticRegression(max_iter=500).fit(before[features], before["target"])
    rows = demo_day(day.isoformat())
    return float((model.predict(rows[features]) != rows["target"]).mean())


def test_bad_day_labels_disagree_with_neighbouring_days() -> None:
    bad = next(d for d in YEAR if demo_is_bad_day(d))
    # A good day whose five previous days are all good, as close as possible after the bad one.
    good = next(
        d
        for d in YEAR
        if d > bad + dt.timedelta(days=6)
        and not any(demo_is_bad_day(d - dt.timedelta(days=k)) for k in range(6))
    )
    on_good = _disagreement(good)
    on_bad = _disagreement(bad)
    assert on_good < 0.2  # the neighbours' model predicts a normal day well
    assert on_bad > 0.35  # about half the labels are flipped on a bad day
    assert on_bad - on_good > 0.2
