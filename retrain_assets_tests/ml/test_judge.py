"""ml/judge.py: a day's candidate judged against the live model on the rows neither saw."""

from __future__ import annotations

import json

import pandas as pd

from retrain_assets.ml.info import ModelInfo
from retrain_assets.ml.judge import LiveModel, Verdict, judge
from retrain_assets.ml.window import DAY_COLUMN
from retrain_assets.registry import ModelCard, RegistrySnapshot, VersionEntry
from retrain_assets_tests.support.fixed_model import FixedModel, holdout

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
    assert verdict.gate.passed and verdict.champion.version == "0.1.0"
    assert verdict.gate.compared_rows == 3
    assert verdict.champion.metrics.n_holdout == 3
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


def test_a_verdict_reads_back_from_its_evaluation_record_as_it_was() -> None:
    rows = dated(
        holdout([0, 1, 1, 0, 1], [0, 1, 1, 0, 1], [0, 1]),
        ["2026-03-05", "2026-03-05", "2026-03-06", "2026-03-06", "2026-03-06"],
    )
    planned = judged(FixedModel([0, 1]), rows).with_plan(SNAPSHOT, INFO)
    stored = json.loads(json.dumps(planned.as_dict()))  # as evaluation_metrics/<day>.json
    assert Verdict.from_dict(stored) == planned
    blocked = judged(FixedModel([0, 1]), rows, threshold=1.01, live=None)
    assert Verdict.from_dict(json.loads(json.dumps(blocked.as_dict()))) == blocked
