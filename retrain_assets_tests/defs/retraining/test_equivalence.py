"""defs/retraining/: one day, one decision: the same verdicts and registry however launched.

Each launch path a user has is run here in process on fresh storage and a fresh registry:
one run per day (schedule, sensor for one file, CLI job backfill), one range run (a range
launch), chunks (UI backfills of any batch size), Dagster's implicit asset job (UI Materialize
and UI asset backfills) and the sensor's own requests for a history upload. The outcome of
every day, the registry history and the live pointer must be identical.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from retrain_assets.data.demo import demo_day, demo_is_bad_day
from retrain_assets.defs.automation.sensors import evaluate_landing_dir
from retrain_assets.defs.partitions import days_between
from retrain_assets_tests.support.service import FAST_MODEL, Service

DEMO_DAYS = days_between("2026-01-26", "2026-02-06")  # 2026-01-30 is a faulty demo day


def chunks(days: list[str], size: int) -> list[tuple[str, str]]:
    return [(days[i], days[min(i + size, len(days)) - 1]) for i in range(0, len(days), size)]


def launch(service: Service, how: str, days: list[str]) -> list[dg.ExecuteInProcessResult]:
    if how == "one run per day":
        return [service.run(day) for day in days]
    if how == "one range run":
        return [service.run(days=(days[0], days[-1]))]
    if how == "chunks of 5":
        return [service.run(days=c) for c in chunks(days, 5)]
    if how == "implicit asset job, chunks of 3":
        return [service.run(days=c, implicit=True) for c in chunks(days, 3)]
    if how == "implicit asset job, one day":
        return [service.run(day, implicit=True) for day in days]
    raise ValueError(how)


def decisions(service: Service, days: list[str]) -> dict[str, Any]:
    """What a user can see of the days' decisions, without run ids and times."""
    registry = service.registry
    current = registry.current()
    return {
        "outcomes": {day: service.outcome(day) for day in days},
        "alerts": {
            day: (service.store.read_outcome(day) or None) and service.store.read_outcome(day).alert
            for day in days
        },  # fmt: skip
        "history": [
            (e["event"], e["version"], e["partition"], e.get("previous") or e.get("live"))
            for e in registry.history()
        ],
        "live": (current.version, current.partition) if current else None,
        "versions": registry.versions(),
    }


def make(tmp_path: Path, instance: dg.DagsterInstance, name: str, **overrides: Any) -> Service:
    return Service(tmp_path / name.replace(" ", "_").replace(",", ""), instance, **overrides)


HOW = [
    "one run per day",
    "one range run",
    "chunks of 5",
    "implicit asset job, chunks of 3",
]


def test_demo_days_decide_the_same_however_they_are_launched(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    assert demo_is_bad_day(pd.Timestamp("2026-01-30").date())
    seen = {}
    for how in HOW:
        # Retention and the automatic rollback on: they act inside the same day loop.
        service = make(tmp_path, instance, how, keep_versions=2, auto_rollback=True)
        launch(service, how, DEMO_DAYS)
        seen[how] = decisions(service, DEMO_DAYS)
    reference = seen["one run per day"]
    # The sequence has every verdict in it, so the comparison means something.
    assert {"deployed", "blocked"} <= set(reference["outcomes"].values())
    assert reference["outcomes"]["2026-01-30"] == "blocked"
    assert "below the threshold" in reference["alerts"]["2026-01-30"]  # the watch saw it
    assert "pruned" in {event for event, *_ in reference["history"]}
    for how, got in seen.items():
        assert got == reference, how


def test_a_batch_day_is_judged_by_the_candidate_an_earlier_day_of_the_batch_made_live(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    service = make(tmp_path, instance, "range")
    service.run(days=("2026-03-01", "2026-03-04"))
    deployed = [e for e in service.registry.history() if e["event"] == "deployed"]
    assert len(deployed) >= 2
    for earlier, later in zip(deployed, deployed[1:], strict=False):
        evaluation = service.store.read_evaluation(later["partition"])
        assert evaluation["live_version"] == earlier["version"]
        assert later["previous"] == earlier["version"]


def landing_frame(day: str, rows: int | None = None) -> pd.DataFrame:
    frame = demo_day(day, target="label")
    return frame if rows is None else frame.head(rows)


@pytest.fixture
def landing(tmp_path: Path) -> tuple[Path, list[str]]:
    """A landing directory with the hazards of a real history upload."""
    directory = tmp_path / "landing"
    directory.mkdir()
    days = days_between("2026-03-01", "2026-03-11")
    for day in days:
        if day == "2026-03-05":
            continue  # a day without a file
        frame = landing_frame(day)
        if day == "2026-03-01":
            frame = landing_frame(day, rows=30)  # too few rows to train on yet
        if day == "2026-03-09":
            frame = frame.assign(f2=np.where(np.arange(len(frame)) == 7, "red", frame["f2"]))
        frame.to_csv(directory / f"{day}.csv", index=False)
    return directory, days


def test_landing_history_decides_the_same_however_it_is_launched(
    tmp_path: Path, instance: dg.DagsterInstance, landing: tuple[Path, list[str]]
) -> None:
    directory, days = landing
    seen = {}
    for how in [*HOW, "history upload through the sensor"]:
        service = make(
            tmp_path,
            instance,
            how,
            data_dir=str(directory),
            target_column="label",
            min_train_rows=100,
        )
        if how == "history upload through the sensor":
            sensor_runs(service, directory)
        else:
            launch(service, how, days)
        seen[how] = decisions(service, days)
    reference = seen["one run per day"]
    outcomes = reference["outcomes"]
    # Not enough data yet at the start is a skip; a day without a file is a skip; a malformed
    # file fails its own day only.
    assert outcomes["2026-03-01"] == "skipped"
    assert outcomes["2026-03-05"] == "skipped"
    assert outcomes["2026-03-09"] == "failed"
    assert "deployed" in outcomes.values()
    for how, got in seen.items():
        assert got == reference, how


def sensor_runs(service: Service, directory: Path) -> list[dg.ExecuteInProcessResult]:
    """Run what new_data_sensor requests for everything in the directory, as the daemon would."""
    first = evaluate_landing_dir(
        dg.build_sensor_context(instance=service.instance), directory, "2026-01-01"
    )
    assert not first.run_requests  # new files wait one tick, in case more are on their way
    context = dg.build_sensor_context(instance=service.instance, cursor=first.cursor)
    result = evaluate_landing_dir(context, directory, "2026-01-01")
    assert len(result.run_requests) == 1  # the whole history as one range run
    job = service.defs.resolve_job_def("retrain_job")
    runs = []
    for request in result.run_requests:
        runs.append(
            job.execute_in_process(
                partition_key=request.partition_key,
                tags=request.tags,
                instance=service.instance,
                run_config=FAST_MODEL,
                raise_on_error=False,
            )
        )
    return runs


def test_a_failed_day_fails_alone_and_the_run_names_it(
    tmp_path: Path, instance: dg.DagsterInstance, landing: tuple[Path, list[str]]
) -> None:
    directory, days = landing
    service = make(tmp_path, instance, "range", data_dir=str(directory), target_column="label")
    (result,) = launch(service, "one range run", days)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "1 of 11 day(s) failed: 2026-03-09 at raw_dataset" in message
    assert "column 'f2' is not numeric" in message
    # Dagster's partition status shows the failed day failed and its neighbours materialised.
    graph = service.defs.resolve_asset_graph()
    failed = instance.get_status_by_partition(
        dg.AssetKey("raw_dataset"),
        ["2026-03-08", "2026-03-09", "2026-03-10"],
        graph.get(dg.AssetKey("raw_dataset")).partitions_def,
    )
    assert failed == {
        "2026-03-08": dg.AssetPartitionStatus.MATERIALIZED,
        "2026-03-09": dg.AssetPartitionStatus.FAILED,
        "2026-03-10": dg.AssetPartitionStatus.MATERIALIZED,
    }
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["retrain_assets/outcome"] == "failed"
    assert "failed:1" in tags["retrain_assets/outcomes"]
    assert "deployed:" in tags["retrain_assets/outcomes"]


def test_launching_the_same_days_again_repeats_their_decisions(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    # A re-execution, a retry, or the schedule after the sensor: the same candidates under the
    # same gate are not decided anew, so nothing in the registry moves or grows.
    days = days_between("2026-01-27", "2026-02-03")
    service = make(tmp_path, instance, "again")
    service.run(days=(days[0], days[-1]))
    first = decisions(service, days)
    assert "blocked" in first["outcomes"].values()
    again = service.run(days=(days[0], days[-1]))
    assert again.success
    service.run(days[2])
    assert decisions(service, days) == first
    record = service.store.read_outcome(days[-1])
    assert record.repeated and record.reason.startswith("already decided in run ")
    # A different gate is a different decision: a lower threshold decides the day anew.
    lower = {
        "ops": {
            "retraining": {
                "config": {"accuracy_threshold": 0.5, "hyperparameters": {"n_estimators": 10}}
            }
        }
    }
    service.run(days[-1], run_config=lower)
    assert not service.store.read_outcome(days[-1]).repeated


def test_too_few_rows_is_a_skip_before_the_first_model_and_a_failure_after(
    tmp_path: Path, instance: dg.DagsterInstance, landing: tuple[Path, list[str]]
) -> None:
    directory, _ = landing

    def service_needing(min_train_rows: int) -> Service:
        return make(tmp_path, instance, "rows", data_dir=str(directory), target_column="label",
                    min_train_rows=min_train_rows)  # fmt: skip

    service = service_needing(100)
    service.run("2026-03-01")  # 30 rows, nothing live yet: not enough data yet
    assert service.outcome("2026-03-01") == "skipped"
    service.run("2026-03-02")
    assert service.registry.current() is not None
    service = service_needing(10_000)
    result = service.run("2026-03-03")  # a live model exists: the same shortfall is an outage
    assert not result.success and service.outcome("2026-03-03") == "failed"
