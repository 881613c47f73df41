"""ml/fit.py: fitting on the older rows only, the refit, and the errors users cause.

Too few rows, one class, an unknown estimator or hyperparameter.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from retrain_assets.ml import fit as training
from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.model_file import model_to_bytes
from retrain_assets.ml.window import DAY_COLUMN, TrainingError, assemble_window
from retrain_assets_tests.support.training_rows import FAST, day_rows, fit, window_of


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


def test_refit_learns_every_row_of_the_window_with_the_same_recipe() -> None:
    # The newest day is the holdout (its labels inverted): the judged model never saw it, the
    # refit must have.
    frames = {f"2026-03-0{i}": day_rows(i) for i in range(1, 5)}
    frames["2026-03-05"] = day_rows(5, flip=True)
    window = window_of(frames)
    judged, holdout = fit(window, estimator="logistic_regression", params={"C": 0.5})

    refitted = training.refit(judged, window, "target")

    reference = build_pipeline("logistic_regression", {"C": 0.5}).fit(
        window.frame[["a", "b"]].to_numpy(), window.frame["target"].to_numpy()
    )
    assert model_to_bytes(refitted.pipeline) == model_to_bytes(reference)
    assert model_to_bytes(refitted.pipeline) != model_to_bytes(judged.pipeline)
    assert (refitted.refit, judged.refit) == (True, False)
    assert (refitted.fit_rows, refitted.fit_end_day) == (200, "2026-03-05")
    # What the gate judged stays on record: its holdout and the data it came from.
    assert (refitted.holdout_rows, refitted.holdout_start_day) == (40, "2026-03-05")
    assert refitted.data_fingerprint == judged.data_fingerprint
    assert (refitted.estimator, refitted.params) == (judged.estimator, judged.params)


def test_refit_of_an_early_stopped_boosting_trains_its_rounds_on_every_row() -> None:
    # Early stopping sets aside the newest 10 % of the fit rows to decide when to stop. The
    # judged fit chose the number of rounds; the refit trains that many on the whole window.
    window = window_of({f"2026-03-0{i}": day_rows(i, n=150) for i in range(1, 8)})
    recipe = {"early_stopping": True, "n_iter_no_change": 3, "max_iter": 500}
    judged, _ = fit(window, estimator="hist_gradient_boosting", params=recipe)
    rounds = judged.pipeline[-1].n_iter_
    assert judged.pipeline[-1].do_early_stopping_ and rounds < 500

    refitted = training.refit(judged, window, "target")

    booster = refitted.pipeline[-1]
    assert (booster.max_iter, booster.early_stopping, booster.n_iter_) == (rounds, False, rounds)
    reference = build_pipeline(
        "hist_gradient_boosting", {**recipe, "max_iter": rounds, "early_stopping": False}
    ).fit(window.frame[["a", "b"]].to_numpy(), window.frame["target"].to_numpy())
    assert model_to_bytes(refitted.pipeline) == model_to_bytes(reference)
    assert refitted.params == judged.params  # the card keeps the recipe the user chose


def test_an_early_stopping_boosting_is_validated_on_its_newest_rows() -> None:
    # The newest tenth of the fit rows decides when to stop, and is not trained on: the model is
    # the one scikit-learn fits when given exactly those rows as its validation set.
    window = window_of({f"2026-03-0{i}": day_rows(i, n=150) for i in range(1, 8)})
    recipe = {"early_stopping": True, "n_iter_no_change": 3, "max_iter": 500}
    judged, _ = fit(window, estimator="hist_gradient_boosting", params=recipe)

    older = window.frame.iloc[: judged.fit_rows]
    x, y = older[["a", "b"]].to_numpy(), older["target"].to_numpy()
    cut = judged.fit_rows - math.ceil(judged.fit_rows * 0.1)
    reference = build_pipeline("hist_gradient_boosting", recipe).fit(
        x[:cut], y[:cut], model__X_val=x[cut:], model__y_val=y[cut:]
    )
    assert model_to_bytes(judged.pipeline) == model_to_bytes(reference)
    # The check has teeth: scikit-learn's own random split gives another model.
    assert model_to_bytes(judged.pipeline) != model_to_bytes(
        build_pipeline("hist_gradient_boosting", recipe).fit(x, y)
    )


def test_auto_early_stopping_keeps_stopping_when_the_validation_rows_leave_the_count() -> None:
    # 'auto' stops early above 10,000 rows. Of 10,400 fit rows, 9,360 are trained on once the
    # newest tenth validates: stopping must stay on, or that tenth would be set aside for nothing.
    x = np.random.default_rng(0).normal(size=(10_400, 2))
    y = (x[:, 0] > 0).astype("int64")
    booster = training.fit_pipeline(
        build_pipeline("hist_gradient_boosting", {"max_iter": 5}), x, y
    )[-1]
    assert booster.do_early_stopping_
    assert booster.early_stopping == "auto"  # the model file keeps the recipe that was chosen


@pytest.mark.parametrize(
    ("newest", "recipe"),
    [
        ("maybe", {}),  # a label only the newest rows hold: the fit would never see it
        ("no", {}),  # the newest rows lack a label: some scorers cannot judge them
        (None, {"class_weight": "balanced"}),  # the validation rows must be weighed too
    ],
)
def test_the_boosting_splits_itself_when_the_newest_rows_cannot_validate(
    newest: str | None, recipe: dict
) -> None:
    x = np.random.default_rng(1).normal(size=(2_000, 2))
    y = np.where(x[:, 0] > 0, "yes", "no").astype(object)
    if newest:
        y[-200:] = newest
    recipe = {"early_stopping": True, "max_iter": 5, **recipe}
    fitted = training.fit_pipeline(build_pipeline("hist_gradient_boosting", recipe), x, y)
    reference = build_pipeline("hist_gradient_boosting", recipe).fit(x, y)
    assert model_to_bytes(fitted) == model_to_bytes(reference)


def test_a_forest_fits_the_same_model_on_either_memory_layout() -> None:
    x = np.random.default_rng(2).normal(size=(3_000, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    models = [
        training.fit_pipeline(build_pipeline("random_forest", FAST), np.asarray(x, order=o), y)
        for o in "CF"
    ]
    plain = build_pipeline("random_forest", FAST).fit(np.asfortranarray(x), y)
    assert model_to_bytes(models[0]) == model_to_bytes(models[1]) == model_to_bytes(plain)


def test_refit_of_a_boosting_never_turns_early_stopping_on_for_the_larger_window() -> None:
    # 'auto' early stopping starts above 10,000 rows: the judged fit (9,600 rows) ran without
    # it, the whole window (12,000) would set aside 10 % of its rows. The refit learns them all.
    window = window_of({f"2026-03-0{i}": day_rows(i, n=1_500) for i in range(1, 9)})
    judged, _ = fit(window, estimator="hist_gradient_boosting", params={"max_iter": 15})
    assert not judged.pipeline[-1].do_early_stopping_

    refitted = training.refit(judged, window, "target")

    assert not refitted.pipeline[-1].do_early_stopping_
    reference = build_pipeline(
        "hist_gradient_boosting", {"max_iter": 15, "early_stopping": False}
    ).fit(window.frame[["a", "b"]].to_numpy(), window.frame["target"].to_numpy())
    assert model_to_bytes(refitted.pipeline) == model_to_bytes(reference)


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
