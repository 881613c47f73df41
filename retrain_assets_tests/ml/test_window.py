"""ml/window.py: a window's days in time order, its feature set, its labels, the holdout split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain_assets.data.validation import DataValidationError
from retrain_assets.ml.window import DAY_COLUMN, TrainingError, assemble_window, split_holdout
from retrain_assets_tests.support.training_rows import day_rows, fit, window_of


def test_assemble_window_orders_days_oldest_first_whatever_the_mapping_order() -> None:
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    frames = {d: day_rows(i, n=5 + i) for i, d in reversed(list(enumerate(days)))}
    window = assemble_window(frames, {d: d for d in days}, days, "target")
    assert window.days_used == days
    assert (
        window.frame[DAY_COLUMN].tolist()
        == ["2026-03-01"] * 5 + ["2026-03-02"] * 6 + ["2026-03-03"] * 7
    )
    # Rows inside a day keep their (time) order.
    assert window.frame["a"].iloc[:5].tolist() == frames["2026-03-01"]["a"].tolist()
    assert window.features == ["a", "b"]


def test_assemble_window_consume_drops_each_day_and_builds_the_same_window() -> None:
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    frames = {d: day_rows(i, n=20 + i) for i, d in enumerate(days)}
    kept = assemble_window(dict(frames), {}, days, "target")
    owned = dict(frames)
    consumed = assemble_window(owned, {}, days, "target", consume=True)
    assert owned == {}  # the caller's days are gone: the window is the only copy in memory
    pd.testing.assert_frame_equal(consumed.frame, kept.frame)


@pytest.mark.parametrize(
    "labels",
    [
        ([0, 1] * 10, [1, 0] * 10),
        ([True, False] * 10, [1, 0] * 10),  # bool one day, 0/1 the next: concat gives ints
        (["cat", "dog"] * 10, ["dog", "cat"] * 10),
        ([0.0, 1.0] * 10, [1.0, 0.0] * 10),  # float labels share pandas' block with features
    ],
)
def test_assemble_window_matches_a_plain_concat_of_the_days(labels: tuple[list, list]) -> None:
    days = ["2026-03-01", "2026-03-02"]
    frames = {}
    for i, (day, day_labels) in enumerate(zip(days, labels, strict=True)):
        frame = day_rows(i, n=len(day_labels))
        frame.loc[::7, "b"] = np.nan
        frame["target"] = day_labels
        frames[day] = frame
    reference = pd.concat([frames[d][["a", "b", "target"]] for d in days], ignore_index=True)
    window = assemble_window(dict(frames), {}, days, "target", consume=True)
    pd.testing.assert_frame_equal(window.frame[["a", "b", "target"]], reference)
    assert window.frame[DAY_COLUMN].tolist() == [days[0]] * 20 + [days[1]] * 20


def test_assemble_window_tolerates_and_reports_missing_days() -> None:
    days = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    frames = {"2026-03-02": day_rows(1), "2026-03-05": day_rows(2)}
    window = assemble_window(frames, {}, days, "target")
    assert window.days_used == ["2026-03-02", "2026-03-05"]
    assert window.days_missing == ["2026-03-01", "2026-03-03", "2026-03-04"]
    assert len(window.frame) == 80


def test_assemble_window_with_no_day_at_all() -> None:
    with pytest.raises(TrainingError, match=r"no data in the training window 2026-03-01\.\.2026"):
        assemble_window({}, {}, ["2026-03-01", "2026-03-02"], "target")


def test_a_day_lacking_a_feature_of_the_newest_day_is_left_out_and_named() -> None:
    # The feature set changed: the days before it cannot train a model of the new features.
    frames = {
        "2026-03-01": day_rows(1),
        "2026-03-02": day_rows(2).drop(columns=["b"]),
        "2026-03-03": day_rows(3),
    }
    sources = {d: f"/landing/{d}.csv" for d in frames}
    window = assemble_window(frames, sources, sorted(frames), "target", consume=True)
    assert window.days_used == ["2026-03-01", "2026-03-03"]
    assert list(window.days_left_out) == ["2026-03-02"]
    reason = window.days_left_out["2026-03-02"]
    assert reason.startswith("/landing/2026-03-02.csv lacks feature column(s) 'b'")
    assert "2026-03-03 has (the feature set changed)" in reason
    assert len(window.frame) == 80 and frames == {}  # consumed, the left-out day too


def test_newest_day_sets_the_feature_set_and_drops_timestamp() -> None:
    old = day_rows(1, extra={"c": 1.0, "timestamp": pd.Timestamp("2026-03-01", tz="UTC")})
    new = day_rows(2, extra={"timestamp": pd.Timestamp("2026-03-02", tz="UTC")})
    window = window_of({"2026-03-01": old, "2026-03-02": new})
    assert window.features == ["a", "b"]
    assert list(window.frame.columns) == ["a", "b", "target", DAY_COLUMN]


def test_labels_of_mixed_types_are_unified_across_the_whole_window() -> None:
    # 1,200 integer labels first, then a day whose labels arrived as text: the window must not
    # hand scikit-learn a column mixing ints and strings (it refuses to fit on that).
    frames = {
        "2026-03-01": day_rows(1, n=600),
        "2026-03-02": day_rows(2, n=600),
        "2026-03-03": day_rows(3, n=600).astype({"target": str}),
    }
    window = window_of(frames)
    assert {type(v) for v in window.frame["target"]} == {str}
    model, _ = fit(window)
    assert model.classes == ["0", "1"]


def test_split_holdout_takes_the_newest_rows() -> None:
    frames = {
        f"2026-03-0{i}": day_rows(i, n=n)
        for i, n in zip(range(1, 6), [40, 40, 40, 40, 30], strict=True)
    }
    window = window_of(frames)
    fit_rows, holdout = split_holdout(window, 0.2)
    assert len(window.frame) == 190
    assert len(holdout) == 38  # ceil(190 * 0.2)
    assert fit_rows.index.tolist() == list(range(152))
    assert holdout.index.tolist() == list(range(152, 190))
    assert fit_rows[DAY_COLUMN].max() <= holdout[DAY_COLUMN].min()


def test_split_holdout_with_a_single_row_has_nothing_to_fit() -> None:
    window = window_of({"2026-03-01": day_rows(1, n=1)})
    with pytest.raises(TrainingError, match="nothing left to fit"):
        split_holdout(window, 0.2)


def test_a_label_spelt_another_way_on_a_later_day_is_named_with_both_days() -> None:
    from retrain_assets.ml.window import assemble_window

    frames = {
        "2026-03-01": pd.DataFrame({"a": [1.0, 2.0], "target": ["no", "yes"]}),
        "2026-03-02": pd.DataFrame({"a": [1.0, 2.0], "target": ["No", "Yes"]}),
    }
    sources = {day: f"/landing/{day}.csv" for day in frames}
    with pytest.raises(DataValidationError) as info:
        assemble_window(frames, sources, list(frames), "target")
    message = str(info.value)
    assert "spells one label several ways: 'no' (from 2026-03-01) and 'No' (from 2026-03-02)" in (
        message
    )
