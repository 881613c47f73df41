"""ml/monitor.py: the live model on fresh rows, and the automatic rollback rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.judge import LiveModel
from retrain_assets.ml.model_file import model_to_bytes
from retrain_assets.ml.monitor import better_version, earlier_live, score_live, watch
from retrain_assets.registry import ModelCard, ModelRegistry

FEATURES = ["f0", "f1"]


def rows(n: int = 400, seed: int = 0, flipped: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 2)), columns=FEATURES)
    frame["target"] = ((frame["f0"] > 0) != flipped).astype(int)
    return frame


def model(version: str, made_for: str, flipped: bool = False, accuracy: float = 0.95) -> LiveModel:
    train = rows(seed=1, flipped=flipped)
    pipeline = build_pipeline("random_forest", {"n_estimators": 5}).fit(
        train[FEATURES].to_numpy(), train["target"].to_numpy()
    )
    card = {"features": FEATURES, "partition": made_for, "metrics": {"accuracy": accuracy}}
    return LiveModel(version, ModelCard.from_dict({**card, "version": version}), pipeline)


def test_the_live_model_is_scored_only_on_days_it_never_trained_on() -> None:
    good = model("0.1.0", made_for="2026-03-04")
    score = score_live("2026-03-05", good, rows(seed=2), "target", threshold=0.8)
    assert score.accuracy is not None and score.accuracy > 0.9 and not score.below_threshold
    assert score.holdout_accuracy == 0.95 and score.metrics.n_holdout == 400
    # A backfilled old day, or the day the model was made for: it has seen those rows.
    stale = score_live("2026-03-04", good, rows(seed=2), "target", threshold=0.8)
    assert stale.metrics is None and "not fresh for 2026-03-04" in stale.note
    other = score_live("2026-03-05", good, rows(seed=2).rename(columns={"f1": "g1"}),
                       "target", 0.8)  # fmt: skip
    assert other.metrics is None and "lacks: ['f1']" in other.note
    assert score_live("2026-03-05", None, rows(), "target", 0.8).note == "no live model"


def test_an_earlier_version_must_reach_the_threshold_and_beat_the_live_by_the_margin() -> None:
    day_rows = rows(seed=3)
    bad = score_live("2026-03-05", model("0.1.2", "2026-03-04", flipped=True), day_rows,
                     "target", threshold=0.8)  # fmt: skip
    assert bad.below_threshold
    also_bad = model("0.1.1", "2026-03-03", flipped=True)
    good = model("0.1.0", "2026-03-02")
    chosen, accuracy = better_version(bad, [also_bad, good], day_rows, "target", margin=0.02)
    assert chosen.version == "0.1.0" and accuracy >= 0.8
    # Trained on the day itself: not a fair candidate either.
    late = model("0.1.0", "2026-03-05")
    assert better_version(bad, [late], day_rows, "target", margin=0.02) is None
    # A live model at or above the threshold is never replaced.
    fine = score_live("2026-03-05", good, day_rows, "target", threshold=0.8)
    assert better_version(fine, [good], day_rows, "target", margin=0.0) is None


def test_watch_rolls_back_only_when_allowed_and_records_why(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path, "classifier")
    for version, (fit_end, flipped) in {"0.1.0": ("2026-03-02", False),
                                        "0.1.1": ("2026-03-03", True)}.items():  # fmt: skip
        live = model(version, fit_end, flipped)
        card = {**live.card, "estimator": "random_forest"}
        registry.deploy(model_to_bytes(live.pipeline), card, partition=fit_end, run_id="r")
    live = model("0.1.1", "2026-03-03", flipped=True)
    day_rows = rows(seed=4)
    assert [m.version for m in earlier_live(registry, "0.1.1")] == ["0.1.0"]

    gate = {"target": "target", "threshold": 0.8, "max_regression": 0.02}
    off = watch("2026-03-05", day_rows, live, registry=registry, auto_rollback=False,
                run_id="run-1", **gate)  # fmt: skip
    assert off.rolled_back_to is None and registry.current().version == "0.1.1"
    assert off.alert is not None and "live model 0.1.1 scored" in off.alert
    assert "below the threshold 0.8000" in off.alert

    on = watch("2026-03-05", day_rows, live, registry=registry, auto_rollback=True,
               run_id="run-2", **gate)  # fmt: skip
    assert on.rolled_back_to is not None and on.rolled_back_to.version == "0.1.0"
    assert registry.current().version == "0.1.0"
    event = registry.history()[-1]
    assert event["event"] == "rolled_back" and event["run_id"] == "run-2"
    assert event["reason"].startswith("automatic: live 0.1.1 scored")
    assert "rolled back to 0.1.0" in on.alert


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_no_alert_while_the_live_model_holds_the_threshold(threshold: float) -> None:
    score = score_live("2026-03-05", model("0.1.0", "2026-03-01"), rows(seed=5), "target",
                       threshold)  # fmt: skip
    assert not score.below_threshold
