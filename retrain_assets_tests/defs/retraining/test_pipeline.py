"""The retraining op run in process against real storage: the assets, the gate, the registry."""

import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from retrain_assets.data.demo import demo_day, demo_is_bad_day
from retrain_assets.ml.model_file import model_from_bytes
from retrain_assets_tests.conftest import Service, step_failure
from retrain_assets_tests.support.inprocess import materializations

CHECK_KEY = dg.AssetCheckKey(dg.AssetKey("evaluation_metrics"), "accuracy_above_threshold")
DEPLOYED = dg.AssetKey("deployed_model_version")


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str | None, bool]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            out[data.partition or event.partition] = data.passed
    return out


def config(**values: object) -> dict:
    """Launchpad run config for the retraining op (small forests unless told otherwise)."""
    values.setdefault("hyperparameters", {"n_estimators": 10})
    return {"ops": {"retraining": {"config": values}}}


def run_tags(service: Service, result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return dict(service.instance.get_run_by_id(result.run_id).tags)


def test_one_day_end_to_end_publishes_version_0_1_0(service: Service) -> None:
    result = service.run("2026-03-01")
    assert result.success

    raw = materializations(result, "raw_dataset")["2026-03-01"]
    assert raw["dagster/row_count"] == len(demo_day("2026-03-01"))
    assert set(raw["class_balance"]) == {"0", "1"}
    assert len(raw["content_hash"]) == 64
    stored = pd.read_parquet(service.store.raw_path("2026-03-01"))
    assert len(stored) == raw["dagster/row_count"]

    model = materializations(result, "trained_model")["2026-03-01"]
    assert model["estimator"] == "random_forest"
    assert model["window"] == "2026-02-25..2026-03-01"  # the 5-day test window
    assert model["fit_rows"] + model["holdout_rows"] == model["rows"]
    assert model["holdout_rows"] == pytest.approx(0.2 * model["rows"], abs=1)

    metrics = materializations(result, "evaluation_metrics")["2026-03-01"]
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc"):
        assert 0.5 < metrics[name] <= 1.0, name
    assert metrics["n_holdout"] == model["holdout_rows"]
    assert check_evaluations(result) == {"2026-03-01": True}

    deployed = materializations(result, "deployed_model_version")["2026-03-01"]
    assert deployed["version"] == "0.1.0" and deployed["outcome"] == "deployed"
    assert run_tags(service, result)["retrain_assets/outcome"] == "deployed"
    registry = service.registry
    current = registry.current()
    assert current.version == "0.1.0" and current.partition == "2026-03-01"
    assert current.run_id == result.run_id
    card = registry.card("0.1.0")
    # Exact on the card; the UI's metadata is rounded to 4 places for people.
    assert card["metrics"]["accuracy"] == pytest.approx(metrics["accuracy"], abs=5e-5)
    assert metrics["accuracy"] == round(metrics["accuracy"], 4)
    assert card["threshold"] == 0.8
    # What goes live is the judged recipe refitted on the whole window, the newest rows too.
    assert card["sha256"] == current.sha256 != model["artifact_sha256"]
    assert card["gate_model_sha256"] == model["artifact_sha256"]
    assert card["refit"] is True and deployed["refit_on_full_window"] is True
    assert card["fit_rows"] == model["rows"] and card["holdout_rows"] == model["holdout_rows"]
    assert card["fit_end_day"] == "2026-03-01"
    assert card["features"] == ["f0", "f1", "f2", "f3", "f4", "f5"]
    assert card["data_fingerprint"] == model["data_fingerprint"]
    assert card["run_id"] == result.run_id and card["code_version"].startswith("0.1.0+")
    # The published file is a working model, checked against its sha256 on load.
    pipeline = model_from_bytes(registry.load_bytes("0.1.0"))
    assert pipeline.predict(np.zeros((1, 6))).shape == (1,)


def test_without_refit_the_judged_model_itself_is_published(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(refit=False)
    result = service.run("2026-03-01")
    assert result.success
    model = materializations(result, "trained_model")["2026-03-01"]
    card = service.registry.card("0.1.0")
    # The same model, in its compressed published file: the card names the judged file too.
    assert card["gate_model_sha256"] == model["artifact_sha256"] and card["refit"] is False
    assert card["sha256"] == service.registry.current().sha256 != model["artifact_sha256"]
    assert card["fit_rows"] == model["fit_rows"]


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


def test_backfill_batch_keeps_per_day_gate_outcomes(service: Service) -> None:
    # 2026-01-30 is a faulty demo day: its gate fails, its neighbours' need not.
    assert demo_is_bad_day(pd.Timestamp("2026-01-30").date())
    result = service.run(days=("2026-01-27", "2026-02-03"))
    assert result.success

    outcomes = check_evaluations(result)
    assert set(outcomes) == {f"2026-01-{d}" for d in range(27, 32)} | {
        "2026-02-01",
        "2026-02-02",
        "2026-02-03",
    }
    blocked = sorted(day for day, passed in outcomes.items() if not passed)
    assert "2026-01-30" in blocked
    passed = sorted(day for day, ok in outcomes.items() if ok)
    assert passed[0] < "2026-01-30" < passed[-1]
    deployed = materializations(result, "deployed_model_version")
    # Each passing day is published, each blocked day is not, one bad day blocks no neighbour.
    assert sorted(deployed) == passed
    assert all(deployed[d]["outcome"] == "deployed" for d in passed)
    assert {service.outcome(d) for d in blocked} == {"blocked"}
    assert service.registry.current().partition == passed[-1]
    # Per-day metrics, as the UI plots them.
    metrics = materializations(result, "evaluation_metrics")
    assert sorted(metrics) == sorted(outcomes)
    assert len({m["accuracy"] for m in metrics.values()}) == len(metrics)


def test_backfill_of_older_days_never_moves_live_model_backwards(service: Service) -> None:
    assert service.run("2026-03-10").success
    before = (service.registry.root / "current.json").read_bytes()
    result = service.run(days=("2026-03-01", "2026-03-03"))
    assert result.success
    assert (service.registry.root / "current.json").read_bytes() == before
    events = [e for e in service.registry.history() if e["run_id"] == result.run_id]
    assert {e["event"] for e in events} == {"superseded"}
    assert sorted(e["partition"] for e in events) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    # The live model (trained on later data) has seen these holdouts: it is not a fair judge.
    note = service.store.read_evaluation("2026-03-01")["champion_note"]
    assert "covers this whole holdout" in note


def test_redeploying_an_identical_artifact_creates_no_new_version(service: Service) -> None:
    assert service.run("2026-03-01").success
    # Same data, same seed: the same model file. (A plain re-run repeats the recorded decision
    # without reaching the registry; another gate setting makes the day be decided anew.)
    result = service.run("2026-03-01", run_config=config(max_regression=0.05))
    assert result.success
    assert service.registry.versions() == ["0.1.0"]
    deployed = materializations(result, "deployed_model_version")["2026-03-01"]
    assert deployed["outcome"] == "unchanged" and deployed["new_version_created"] is False


def test_changing_the_estimator_bumps_the_minor_version(service: Service) -> None:
    assert service.run("2026-03-01").success
    chosen = config(estimator="hist_gradient_boosting", hyperparameters={"max_iter": 20})
    assert service.run("2026-03-02", run_config=chosen).success
    assert service.registry.current().version == "0.2.0"


def write_days(directory: Path, days: list[str], target: str = "label") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for day in days:
        frame = demo_day(day, target=target).drop(columns=["f5"])
        frame.to_csv(directory / f"{day}.csv", index=False)


def test_landing_directory_with_own_columns_needs_no_code_change(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_days(landing, [f"2026-04-0{d}" for d in range(1, 6)], target="label")
    (landing / "notes.txt").write_text("not data")
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-04-05")
    assert result.success, result.all_events
    card = service.registry.card(service.registry.current().version)
    assert card["features"] == ["f0", "f1", "f2", "f3", "f4"]
    assert card["window_days"] == [f"2026-04-0{d}" for d in range(1, 6)]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.drop(columns=["label"]), ["missing target column 'label'"]),
        (lambda f: f.assign(f1="red"), ["column 'f1' is not numeric", "'red'"]),
        (lambda f: f.assign(f2=np.nan), ["column 'f2' is entirely empty"]),
        (
            lambda f: f.assign(label=np.where(np.arange(len(f)) == 3, np.nan, f["label"])),
            ["column 'label' has 1 missing label", "row 4"],
        ),
        (lambda f: f.head(3), ["only 3 row(s)", "RETRAIN_MIN_ROWS_PER_DAY"]),
    ],
    ids=["missing-target", "non-numeric", "all-null", "nan-target", "too-few-rows"],
)
def test_bad_landing_file_fails_its_day_and_leaves_registry_untouched(
    make_service, mutate, expected
) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_days(landing, ["2026-04-01", "2026-04-02"])
    service = make_service(data_dir=str(landing), target_column="label")
    assert service.run("2026-04-01").success
    registry_before = {p: p.read_bytes() for p in service.registry.root.rglob("*") if p.is_file()}

    path = landing / "2026-04-02.csv"
    mutate(pd.read_csv(path)).to_csv(path, index=False)
    result = service.run("2026-04-02")

    assert not result.success
    step, message = step_failure(result)
    assert step == "retraining"
    assert "2026-04-02 at raw_dataset" in message and str(path) in message
    record = service.store.read_outcome("2026-04-02")
    assert (record.outcome, record.stage) == ("failed", "raw_dataset")
    assert run_tags(service, result)["retrain_assets/outcome"] == "failed"
    for part in expected:
        assert part in message
    after = {p: p.read_bytes() for p in service.registry.root.rglob("*") if p.is_file()}
    assert after == registry_before


def test_day_without_a_file_is_a_skip_with_its_reason(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_days(landing, ["2026-03-04"])
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-03-05")
    assert result.success
    record = service.store.read_outcome("2026-03-05")
    assert (record.outcome, record.stage) == ("skipped", "raw_dataset")
    assert "no data for 2026-03-05" in record.reason
    assert run_tags(service, result)["retrain_assets/outcome"] == "skipped"
    assert service.registry.current() is None


def test_single_class_window_fails_at_trained_model(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    landing.mkdir()
    frame = demo_day("2026-04-01", target="label").assign(label=1)
    frame.to_csv(landing / "2026-04-01.csv", index=False)
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-04-01")
    step, message = step_failure(result)
    assert step == "retraining" and "2026-04-01 at trained_model" in message
    assert "single class" in message and "'label'" in message
    assert service.registry.current() is None


def test_missing_days_inside_the_window_are_tolerated(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_days(landing, ["2026-04-01", "2026-04-03", "2026-04-06"])
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-04-06")
    assert result.success
    model = materializations(result, "trained_model")["2026-04-06"]
    assert model["days_missing"] == ["2026-04-02", "2026-04-04", "2026-04-05"]
    card = service.registry.card(service.registry.current().version)
    assert card["window_days"] == ["2026-04-03", "2026-04-06"]


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


def test_the_registry_keeps_the_last_k_live_versions_as_deploys_go(make_service) -> None:
    service = make_service(keep_versions=2)
    result = service.run(days=("2026-03-01", "2026-03-05"))
    assert result.success
    registry = service.registry
    history = registry.history()
    went_live = [e["version"] for e in history if e["event"] == "deployed"]
    assert len(went_live) >= 4  # the demo's early March days deploy
    # The last two live versions stay (the live one and the one before it), nothing else.
    assert registry.versions() == went_live[-2:]
    pruned = [e for e in history if e["event"] == "pruned"]
    assert [e["version"] for e in pruned] == went_live[:-2]
    assert {e["run_id"] for e in pruned} == {result.run_id}
    deployed = materializations(result, "deployed_model_version")
    assert deployed["2026-03-05"]["versions_pruned"] == went_live[-3]


def _landing_day(directory: Path, day: str, columns: list[str], labels=(0, 1)) -> None:
    rng = np.random.default_rng(int(day.replace("-", "")))
    frame = pd.DataFrame(rng.normal(size=(150, 2)), columns=["a", "b"])
    frame["target"] = np.where(frame["a"] > 0, labels[1], labels[0])
    frame[columns].to_csv(directory / f"{day}.csv", index=False)


def test_column_order_never_changes_the_model_kind_or_its_judge(make_service, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2026-03-01", "2026-03-02"):
        _landing_day(landing, day, ["a", "b", "target"])
    _landing_day(landing, "2026-03-03", ["target", "b", "a"])  # the same data, reordered
    service = make_service(data_dir=str(landing), min_train_rows=50, min_holdout_rows=20)
    assert service.run(days=("2026-03-01", "2026-03-03")).success
    assert service.registry.versions() == ["0.1.0", "0.1.1", "0.1.2"]  # patches, no minor
    assert service.registry.card("0.1.2")["features"] == ["a", "b"]
    evaluation = service.store.read_evaluation("2026-03-03")
    assert evaluation["champion"]["version"] == "0.1.1"  # still a fair judge


def test_labels_that_change_kind_are_said_and_never_compared(make_service, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2026-03-01", "2026-03-02"):
        _landing_day(landing, day, ["a", "b", "target"])
    for day in ("2026-03-03", "2026-03-04"):
        _landing_day(landing, day, ["a", "b", "target"], labels=("no", "yes"))
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
        _landing_day(landing, day, ["a", "b", "target"])
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


def test_a_new_feature_starts_the_window_at_the_change(make_service, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2026-03-01", "2026-03-02"):
        _landing_day(landing, day, ["a", "b", "target"])
    frame = pd.read_csv(landing / "2026-03-02.csv").assign(c=1.0)
    frame.to_csv(landing / "2026-03-03.csv", index=False)
    service = make_service(data_dir=str(landing), min_train_rows=50, min_holdout_rows=20)
    result = service.run(days=("2026-03-01", "2026-03-03"))
    assert result.success, step_failure(result)
    model = materializations(result, "trained_model")["2026-03-03"]
    assert model["days_left_out"] == ["2026-03-01", "2026-03-02"]
    assert model["feature_names"] == ["a", "b", "c"]
    # A new kind of model: a minor version, judged by the threshold alone.
    assert service.registry.current().version == "0.2.0"
    note = service.store.read_evaluation("2026-03-03")["champion_note"]
    assert note == "live model uses other features"
