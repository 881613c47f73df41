"""defs/automation/schedules.py: the nightly schedule and its catch-up.

Evaluated with Dagster's own test contexts.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id

from retrain_assets.definitions import defs
from retrain_assets.defs.automation.jobs import LANE_TAG, retrain_job
from retrain_assets.defs.automation.schedules import CATCHUP_DAYS, retrain_schedule

UTC = dt.UTC


REPOSITORY = defs.get_repository_def()


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (dt.datetime(2026, 3, 2, 1, 0, tzinfo=UTC), "2026-03-01"),
        (dt.datetime(2026, 3, 2, 23, 59, tzinfo=UTC), "2026-03-01"),
        (dt.datetime(2026, 3, 1, 0, 0, tzinfo=UTC), "2026-02-28"),  # month end, no leap year
        (dt.datetime(2028, 3, 1, 0, 30, tzinfo=UTC), "2028-02-29"),  # leap day
        (dt.datetime(2027, 1, 1, 1, 0, tzinfo=UTC), "2026-12-31"),  # year end
        # 23:30 in New York is already the next day in UTC: the partition follows UTC.
        (
            dt.datetime(2026, 6, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4))),
            "2026-06-10",
        ),
    ],
)
def test_schedule_targets_the_previous_utc_day(moment: dt.datetime, expected: str) -> None:
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=moment, repository_def=REPOSITORY
        )
        requests = retrain_schedule.evaluate_tick(context).run_requests
    # The previous day comes last; before it, the week's days the schedule never ran (here: all).
    assert requests[-1].partition_key == expected
    assert requests[-1].run_key == f"schedule:{expected}"
    assert len(requests) == CATCHUP_DAYS
    keys = [r.partition_key for r in requests]
    assert keys == sorted(keys) and len(set(keys)) == CATCHUP_DAYS
    # A one-day run is capped at an hour; backfill batches get the instance's longer default.
    assert all(r.tags["dagster/max_runtime"] == "3600" for r in requests)


def test_schedule_catches_up_only_the_days_it_has_not_run() -> None:
    moment = dt.datetime(2026, 3, 20, 1, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        for day in ("2026-03-14", "2026-03-16", "2026-03-17", "2026-03-18"):
            instance.add_run(
                DagsterRun(
                    job_name="retrain_job",
                    run_id=make_new_run_id(),
                    tags={"dagster/schedule_name": "retrain_schedule", "dagster/partition": day},
                )
            )
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=moment, repository_def=REPOSITORY
        )
        requests = retrain_schedule.evaluate_tick(context).run_requests
        assert [r.partition_key for r in requests] == ["2026-03-13", "2026-03-15", "2026-03-19"]

        for request in requests:
            instance.add_run(
                DagsterRun(
                    job_name="retrain_job",
                    run_id=make_new_run_id(),
                    tags={
                        "dagster/schedule_name": "retrain_schedule",
                        "dagster/partition": request.partition_key,
                    },
                )
            )
        again = retrain_schedule.evaluate_tick(context)
        assert not again.run_requests
        assert "was already run or decided" in again.skip_message


def test_schedule_skips_days_before_the_start_date() -> None:
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2026, 1, 1, 1, tzinfo=UTC),
            repository_def=REPOSITORY,
        )
        result = retrain_schedule.evaluate_tick(context)
    assert not result.run_requests
    assert "before RETRAIN_START_DATE" in result.skip_message


def test_schedule_and_job_defaults() -> None:
    assert retrain_schedule.cron_schedule == "0 1 * * *"
    assert retrain_schedule.execution_timezone == "UTC"
    assert retrain_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert retrain_job.tags == LANE_TAG


def test_with_a_landing_directory_the_schedule_leaves_decided_days_to_the_sensor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from retrain_assets.artifacts import ArtifactStore, DayRecord
    from retrain_assets.defs.automation import schedules

    settings = replace(schedules.SETTINGS, data_dir=tmp_path / "landing",
                       storage_dir=tmp_path / "storage")  # fmt: skip
    monkeypatch.setattr(schedules, "SETTINGS", settings)
    store = ArtifactStore.for_source(settings.storage_dir, settings.data_dir)
    store.write_outcome(DayRecord("2026-03-18", "sensor-run", "deployed", "s", "ok", "0.1.3"))
    store.write_outcome(DayRecord("2026-03-17", "sensor-run", "failed", "s", "bad file"))
    moment = dt.datetime(2026, 3, 20, 1, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=moment, repository_def=REPOSITORY
        )
        requests = retrain_schedule.evaluate_tick(context).run_requests
    days = [r.partition_key for r in requests]
    assert "2026-03-18" not in days  # the sensor decided it: one file version, one run
    assert "2026-03-17" in days and "2026-03-19" in days  # failed or not yet seen: tried
