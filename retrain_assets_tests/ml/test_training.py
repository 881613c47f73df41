"""ml.window, ml.fit and ml.model_file: windows, the time-ordered holdout, fitting, the file."""

from __future__ import annotations

import hashlib
import pickle
import re

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from retrain_assets.data.validation import DataValidationError
from retrain_assets.ml import fit as training
from retrain_assets.ml import model_file
from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.model_file import model_from_bytes, model_to_bytes
from retrain_assets.ml.window import DAY_COLUMN, TrainingError, assemble_window, split_holdout
from retrain_assets_tests.support.training_rows import FAST, day_rows, fit, window_of


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


# ---- holdout -----------------------------------------------------------------------------


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


def test_holdout_rows_are_never_used_for_fitting() -> None:
    # Four normal days, then a newest day (exactly the last 20 %) whose labels are inverted: if
    # any of those rows reached the fit, the model would differ.
    frames = {f"2026-03-0{i}": day_rows(i) for i in range(1, 5)}
    frames["2026-03-05"] = day_rows(5, flip=True)
    window = window_of(frames)
    model, holdout = fit(window, estimator="logistic_regression", params={})

    older = window.frame.iloc[:160]
    reference = build_pipeline("logistic_regression", {}).fit(
        older[["a", "b"]].to_numpy(), older["target"].to_numpy()
    )
    assert model_to_bytes(model.pipeline) == model_to_bytes(reference)
    pd.testing.assert_frame_equal(holdout, window.frame.iloc[160:])
    assert (model.fit_rows, model.holdout_rows) == (160, 40)
    assert model.fit_end_day == "2026-03-04"
    assert model.holdout_start_day == "2026-03-05"
    # The check has teeth: fitting on every row gives another model.
    everything = build_pipeline("logistic_regression", {}).fit(
        window.frame[["a", "b"]].to_numpy(), window.frame["target"].to_numpy()
    )
    assert model_to_bytes(everything) != model_to_bytes(reference)
    # ...and the model trained on the older rows is fooled by the inverted newest day.
    predictions = model.pipeline.predict(holdout[["a", "b"]].to_numpy())
    assert (predictions == holdout["target"].to_numpy()).mean() < 0.3


def test_split_inside_a_day_reports_days_in_time_order() -> None:
    frames = {
        f"2026-03-0{i}": day_rows(i, n=n)
        for i, n in zip(range(1, 5), [50, 50, 50, 30], strict=True)
    }
    model, holdout = fit(window_of(frames), holdout_fraction=0.25)  # 45 rows: 15 of day 3
    assert model.holdout_rows == 45 and len(holdout) == 45
    assert model.fit_end_day == "2026-03-03"
    assert model.holdout_start_day == "2026-03-03"
    assert holdout[DAY_COLUMN].tolist() == ["2026-03-03"] * 15 + ["2026-03-04"] * 30


# ---- fit errors --------------------------------------------------------------------------


def test_too_few_rows_names_the_setting() -> None:
    window = window_of({"2026-03-01": day_rows(1, n=20), "2026-03-02": day_rows(2, n=20)})
    with pytest.raises(TrainingError) as info:
        fit(window, min_train_rows=50)
    message = str(info.value)
    assert "only 40 row(s)" in message
    assert "2026-03-01..2026-03-02" in message
    assert "minimum of 50" in message
    assert "RETRAIN_MIN_TRAIN_ROWS" in message


def test_single_class_in_the_training_rows_names_class_and_column() -> None:
    ones = day_rows(1)
    ones["label"] = "spam"
    later = day_rows(2)
    later["label"] = np.where(later["a"] > 0, "spam", "ham")
    frames = {"2026-03-01": ones.drop(columns="target"), "2026-03-02": later.drop(columns="target")}
    window = assemble_window(frames, {}, sorted(frames), "label")
    with pytest.raises(TrainingError) as info:
        fit(window, target="label", holdout_fraction=0.5)
    message = str(info.value)
    assert "single class" in message
    assert "'spam'" in message
    assert "column 'label'" in message


def test_unknown_estimator() -> None:
    window = window_of({"2026-03-01": day_rows(1)})
    with pytest.raises(TrainingError) as info:
        fit(window, estimator="xgboost", params={})
    message = str(info.value)
    assert "unknown estimator 'xgboost'" in message
    assert "hist_gradient_boosting, logistic_regression, random_forest" in message


def test_unknown_hyperparameter() -> None:
    window = window_of({"2026-03-01": day_rows(1)})
    with pytest.raises(TrainingError) as info:
        fit(window, params={"n_trees": 5})
    message = str(info.value)
    assert "bad hyperparameters for random_forest" in message
    assert "n_trees" in message


@pytest.mark.parametrize(
    ("estimator", "params", "name"),
    [
        ("random_forest", {"n_estimators": 0}, "n_estimators"),
        ("random_forest", {"n_estimators": "ten"}, "n_estimators"),
        ("hist_gradient_boosting", {"learning_rate": -1.0}, "learning_rate"),
        ("logistic_regression", {"C": -1.0}, "C"),
    ],
)
def test_bad_hyperparameter_value(estimator: str, params: dict, name: str) -> None:
    window = window_of({"2026-03-01": day_rows(1)})
    with pytest.raises(TrainingError) as info:
        fit(window, estimator=estimator, params=params)
    message = str(info.value)
    assert f"bad hyperparameters for {estimator}" in message
    assert f"'{name}'" in message


# ---- the fitted model and its facts ------------------------------------------------------


def test_data_fingerprint_follows_the_data() -> None:
    frames = {f"2026-03-0{i}": day_rows(i) for i in range(1, 4)}
    first, _ = fit(window_of(frames))
    again, _ = fit(window_of({d: f.copy() for d, f in frames.items()}))
    frames["2026-03-02"].loc[3, "a"] += 1.0
    changed, _ = fit(window_of(frames))
    assert first.data_fingerprint == again.data_fingerprint
    assert changed.data_fingerprint != first.data_fingerprint


@pytest.mark.parametrize("estimator", sorted(training.ESTIMATORS))
def test_partial_nulls_are_handled_inside_the_model(estimator: str) -> None:
    frames = {f"2026-03-0{i}": day_rows(i) for i in range(1, 4)}
    frames["2026-03-01"].loc[:5, "a"] = np.nan
    model, _ = fit(window_of(frames), estimator=estimator, params={})
    # Trees take NaN natively; the others impute inside the saved pipeline.
    assert ("impute" in model.pipeline.named_steps) == (estimator in training.NEEDS_IMPUTER)
    predicted = model.pipeline.predict(np.array([[np.nan, 1.0], [np.nan, -1.0]]))
    assert len(predicted) == 2


# ---- model file: reproducible, safe ------------------------------------------------------


ESTIMATOR_PARAMS = [
    ("random_forest", {"n_estimators": 5}),
    ("hist_gradient_boosting", {"max_iter": 10}),
    ("logistic_regression", {}),
]


def xy(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    frame = day_rows(seed, n=200)
    frame.loc[::17, "b"] = np.nan
    return frame[["a", "b"]].to_numpy(), frame["target"].to_numpy()


@pytest.mark.parametrize(("estimator", "params"), ESTIMATOR_PARAMS)
def test_model_bytes_are_reproducible(estimator: str, params: dict) -> None:
    x, y = xy()
    pipeline = build_pipeline(estimator, params).fit(x, y)
    first = model_to_bytes(pipeline)
    assert hashlib.sha256(model_to_bytes(pipeline)).hexdigest() == model_file.sha256(first)
    refit = build_pipeline(estimator, params).fit(x, y)
    assert model_file.sha256(model_to_bytes(refit)) == model_file.sha256(first)
    other = build_pipeline(estimator, params).fit(*xy(1))
    assert model_file.sha256(model_to_bytes(other)) != model_file.sha256(first)


@pytest.mark.parametrize(("estimator", "params"), ESTIMATOR_PARAMS)
def test_model_bytes_round_trip_predictions(estimator: str, params: dict) -> None:
    x, y = xy()
    pipeline = build_pipeline(estimator, params).fit(x, y)
    loaded = model_from_bytes(model_to_bytes(pipeline))
    x_new, _ = xy(5)
    np.testing.assert_array_equal(loaded.predict(x_new), pipeline.predict(x_new))
    np.testing.assert_allclose(loaded.predict_proba(x_new), pipeline.predict_proba(x_new))
    assert loaded.classes_.tolist() == [0, 1]


def test_an_uncompressed_model_file_is_reproducible_loads_the_same_and_is_larger() -> None:
    x, y = xy()
    pipeline = build_pipeline("random_forest", {"n_estimators": 20}).fit(x, y)
    working = model_to_bytes(pipeline, compress=False)
    again = build_pipeline("random_forest", {"n_estimators": 20}).fit(x, y)
    assert working == model_to_bytes(again, compress=False)
    published = model_to_bytes(pipeline)
    assert len(published) * 2 < len(working)  # deflate: a forest's arrays shrink severalfold
    x_new, _ = xy(5)
    np.testing.assert_allclose(
        model_from_bytes(working).predict_proba(x_new),
        model_from_bytes(published).predict_proba(x_new),
    )


class NotAModel:
    """Stands in for anything a tampered model file could smuggle in."""

    def __init__(self) -> None:
        self.payload = "rm -rf /"


def test_model_file_with_an_untrusted_type_is_refused() -> None:
    data = sio.dumps({"model": NotAModel()})
    with pytest.raises(ValueError) as info:
        model_from_bytes(data)
    message = str(info.value)
    assert "not on the trust list" in message
    assert "NotAModel" in message


def test_model_file_referencing_a_dangerous_function_is_refused() -> None:
    import os

    data = sio.dumps({"hook": os.system})
    with pytest.raises(ValueError, match="not on the trust list"):
        model_from_bytes(data)


def test_model_loading_never_uses_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = xy()
    pipeline = build_pipeline("random_forest", FAST).fit(x, y)
    data = model_to_bytes(pipeline)
    assert data[:2] == b"PK"  # a zip archive (skops), not a pickle stream

    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    loaded = model_from_bytes(data)
    np.testing.assert_array_equal(loaded.predict(x), pipeline.predict(x))
    # A pickle dressed up as a model file is rejected without being unpickled.
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, as long as it is one
        model_from_bytes(pickle.dumps(pipeline))
    assert calls == []


def test_code_version_names_the_package_and_a_digest() -> None:
    version = model_file.code_version()
    package, _, digest = version.partition("+")
    assert package == model_file.__version__
    assert re.fullmatch(r"[0-9a-f]{12}", digest), digest


# Crafted files that load but would crash predict (a segfault: no exception, no failure hook).
# Never call predict on them here: the test process would die.
def _forest(x: np.ndarray, y: np.ndarray):
    return build_pipeline("random_forest", {"n_estimators": 3}).fit(x, y)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: t.children_left.__setitem__(0, 10_000), "node 0 has left child 10000"),
        (lambda t: t.children_right.__setitem__(0, 0), "node 0 has right child 0"),  # a cycle
        (lambda t: t.feature.__setitem__(0, 99), "node 0 splits on feature 99 of 2"),
    ],
)
def test_a_crafted_tree_is_refused_at_load_not_crashed_on(damage, message: str) -> None:
    x, y = xy()
    pipeline = _forest(x, y)
    damage(pipeline.steps[-1][1].estimators_[1].tree_)
    with pytest.raises(model_file.DamagedModelError, match=f"tree 1 of the forest: {message}"):
        model_from_bytes(model_to_bytes(pipeline))


def test_a_crafted_boosting_tree_is_refused() -> None:
    x, y = xy()
    pipeline = build_pipeline("hist_gradient_boosting", {"max_iter": 3}).fit(x, y)
    predictor = pipeline.steps[-1][1]._predictors[2][0]
    predictor.nodes["left"][0] = 500
    with pytest.raises(model_file.DamagedModelError, match="boosting iteration 2 tree 0"):
        model_from_bytes(model_to_bytes(pipeline))


def test_a_file_holding_something_else_than_a_pipeline_is_refused() -> None:
    x, y = xy()
    model = _forest(x, y).steps[-1][1]
    with pytest.raises(model_file.DamagedModelError, match="not a scikit-learn Pipeline"):
        model_from_bytes(sio.dumps(model))


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
