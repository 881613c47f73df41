"""defs/retraining/evaluate.py: the gate's verdicts and the live model as judge.

Through in-process runs of the retraining op (evaluation_metrics and its check), including
when the live model is not a fair judge.
"""

import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from retrain_assets.data.demo import demo_day
from retrain_assets_tests.support.inprocess import (
    check_evaluations,
    config,
    landing_day,
    materializations,
    run_tags,
)
from retrain_assets_tests.support.service import Service, step_failure


def test_a_holdout_below_the_minimum_is_blocked_as_not_enough_evidence(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(min_holdout_rows=10_000)
    result = service.run("2026-03-01")
    assert result.success  # blocked is a verdict, not a crash
    assert check_evaluations(result) == {"2026-03-01": False}
    assert service.outcome("2026-03-01") == "blocked"
    gate = service.store.read_evaluation("2026-03-01")["gate"]
    assert gate["rule"] == "not_enough_evidence" and "RETRAIN_MIN_HOLDOUT_ROWS" in gate["reason"]
    assert service.registry.current() is None


def test_next_day_bumps_patch_and_is_judged_by_the_live_model(service: Service) -> None:
    assert service.run("2026-03-01").success
    result = service.run("2026-03-02")
    assert result.success
    metrics = materializations(result, "evaluation_metrics")["2026-03-02"]
    assert metrics["champion_version"] == "0.1.0"
    assert 0.5 < metrics["champion_accuracy"] <= 1.0
    # The live model was refitted up to 2026-03-01: it is judged on 2026-03-02's held-out rows
    # only (here the holdout, a fifth of the window, is about one day).
    raw = materializations(result, "raw_dataset")["2026-03-02"]
    assert metrics["compared_rows"] == min(raw["dagster/row_count"], metrics["n_holdout"])
    assert service.registry.current().version == "0.1.1"
    assert [e["event"] for e in service.registry.history()] == ["deployed", "deployed"]


def test_gate_below_threshold_blocks_deploy_and_leaves_current_json_unchanged(
    service: Service,
) -> None:
    assert service.run("2026-03-01").success
    before = (service.registry.root / "current.json").read_bytes()

    result = service.run("2026-03-02", run_config=config(accuracy_threshold=0.999))

    # Blocked is a verdict, not a crash: the run succeeds, and says blocked where runs are listed.
    assert result.success
    assert run_tags(service, result)["retrain_assets/outcome"] == "blocked"
    assert service.outcome("2026-03-02") == "blocked"
    assert check_evaluations(result) == {"2026-03-02": False}
    assert "2026-03-02" not in materializations(result, "deployed_model_version")
    assert (service.registry.root / "current.json").read_bytes() == before
    assert service.registry.versions() == ["0.1.0"]
    evaluation = next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    )
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert meta["rule"] == "below_threshold"
    assert meta["threshold"] == 0.999
    assert "< threshold 0.9990" in meta["reason"]


def test_gate_regression_against_live_model_blocks(service: Service) -> None:
    assert service.run("2026-03-01").success
    before = (service.registry.root / "current.json").read_bytes()
    weak = config(hyperparameters={"n_estimators": 1, "max_depth": 1}, accuracy_threshold=0.5)
    result = service.run("2026-03-02", run_config=weak)
    assert result.success and service.outcome("2026-03-02") == "blocked"
    gate = service.store.read_evaluation("2026-03-02")["gate"]
    assert gate["rule"] == "regression_vs_champion"
    assert gate["champion_version"] == "0.1.0"
    assert gate["accuracy"] < gate["champion_accuracy"] - gate["max_regression"]
    assert (service.registry.root / "current.json").read_bytes() == before


def test_holdout_label_never_seen_in_training_is_handled(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    landing.mkdir()
    frame = demo_day("2026-04-01", target="label")
    frame.loc[frame.index[-5:], "label"] = 2  # a new class arrives at the end of the day
    frame.to_csv(landing / "2026-04-01.csv", index=False)
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-04-01")
    evaluation = json.loads(service.store.evaluation_path("2026-04-01").read_text())
    assert evaluation["metrics"]["unseen_labels"] == [2]
    assert evaluation["metrics"]["roc_auc"] is None
    assert materializations(result, "evaluation_metrics")["2026-04-01"]["unseen_labels"] == ["2"]


def test_labels_that_change_kind_are_said_and_never_compared(make_service, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2026-03-01", "2026-03-02"):
        landing_day(landing, day, ["a", "b", "target"])
    for day in ("2026-03-03", "2026-03-04"):
        landing_day(landing, day, ["a", "b", "target"], labels=("no", "yes"))
    service = make_service(data_dir=str(landing), min_train_rows=50)
    result = service.run(days=("2026-03-01", "2026-03-04"))
    assert result.success, step_failure(result)
    for day in ("2026-03-03", "2026-03-04"):
        assert service.outcome(day) != "failed"
        evaluation = service.store.read_evaluation(day)
        assert evaluation["champion"] is None
        assert "labels changed, not compared" in evaluation["champion_note"]
    watched = materializations(result, "live_model_metrics")
    assert "2026-03-03" not in watched  # the live model never saw "no"/"yes": not scored


def test_switching_from_the_demo_to_own_data_starts_a_new_line(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    # The demo ran first: a demo model of a later day is live, and a demo day sits in storage
    # inside the user's first window.
    demo = Service(tmp_path, instance)
    assert demo.run("2026-02-28").success and demo.run("2026-03-10").success
    assert demo.registry.current().version == "0.1.1"
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2026-03-01", "2026-03-02"):
        landing_day(landing, day, ["a", "b", "target"])
    real = Service(tmp_path, instance, data_dir=str(landing), min_holdout_rows=20)
    result = real.run(days=("2026-03-01", "2026-03-02"))
    assert result.success, step_failure(result)

    # Not superseded by the demo's later day: the user's models go live, a new minor line.
    assert [real.outcome(d) for d in ("2026-03-01", "2026-03-02")] == ["deployed", "deployed"]
    current = real.registry.current()
    assert (current.version, current.partition) == ("0.2.1", "2026-03-02")
    card = real.registry.card("0.2.0")
    assert card["source"] == "landing" and card["features"] == ["a", "b"]
    assert real.registry.card("0.1.1")["source"] == "demo"
    # Said where people look: the evaluation's note and the Dagster metadata.
    note = real.store.read_evaluation("2026-03-01")["champion_note"]
    assert "0.1.1 was trained on the demo stream" in note and "landing directory" in note
    metrics = materializations(result, "evaluation_metrics")["2026-03-01"]
    assert metrics["champion"] == note
    # The demo's stored day never entered the user's window.
    model = materializations(result, "trained_model")["2026-03-01"]
    assert model["window"] == "2026-03-01..2026-03-01" and model["days_left_out"] == []
    assert (tmp_path / "storage" / "demo" / "raw_dataset" / "2026-02-28.parquet").exists()
