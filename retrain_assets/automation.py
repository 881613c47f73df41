"""What makes the service run by itself: the job, the daily schedule and the new-data sensor."""

import datetime as dt
import json
import time
from pathlib import Path

import dagster as dg

from retrain_assets.assets import GROUP, daily_partitions
from retrain_assets.settings import settings
from retrain_assets.sources import scan_landing_dir

SETTINGS = settings()

# Retrain runs carry this tag; dagster.yaml lets one such run execute at a time, so days are
# ingested, trained and deployed in the order their runs were queued (date order).
LANE_TAG = {"retrain_assets/lane": "retrain"}

retrain_job = dg.define_asset_job(
    name="retrain_job",
    selection=dg.AssetSelection.groups(GROUP),  # the four assets and their check
    partitions_def=daily_partitions,
    # In-process: the multiprocess executor spends seconds per run starting processes,
    # far more than a day's work here.
    executor_def=dg.in_process_executor,
    tags=LANE_TAG,
    description="Ingest, train, evaluate, gate and deploy one day (or a batch of days).",
)


# A one-day run takes seconds to minutes: an hour means its worker is gone or hung. Backfill
# batches (up to MAX_DAYS_PER_RUN days) legitimately run for hours and fall under
# run_monitoring.max_runtime_seconds in dagster.yaml instead. Set on the schedule's and the
# sensor's requests only, so manual range runs of retrain_job are not capped at an hour.
DAILY_RUN_TAGS = {"dagster/max_runtime": "3600"}


def previous_day(moment: dt.datetime) -> str:
    return (moment.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


# Dagster 1.13 does not catch up missed ticks of a schedule on a partitioned asset job (it has no
# partition set; scheduler.max_catchup_runs does not apply), so the schedule does it: each tick
# requests every day of the last week that it has not launched a run for yet, oldest first.
CATCHUP_DAYS = 7


def _scheduled_before(instance: dg.DagsterInstance, day: str) -> bool:
    runs_filter = dg.RunsFilter(
        tags={"dagster/schedule_name": "retrain_schedule", "dagster/partition": day}
    )
    return bool(instance.get_run_ids(runs_filter, limit=1))


@dg.schedule(
    job=retrain_job,
    cron_schedule=SETTINGS.schedule_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrains on the previous day's partition (RETRAIN_SCHEDULE_CRON, UTC); after "
    f"an outage it also runs the days of the last {CATCHUP_DAYS} it missed.",
)
def retrain_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
    latest = dt.date.fromisoformat(previous_day(context.scheduled_execution_time))
    days = [(latest - dt.timedelta(days=k)).isoformat() for k in range(CATCHUP_DAYS - 1, -1, -1)]
    days = [day for day in days if day >= SETTINGS.start_date]
    if not days:
        return dg.SkipReason(f"{latest} is before RETRAIN_START_DATE {SETTINGS.start_date}")
    todo = [day for day in days if not _scheduled_before(context.instance, day)]
    if not todo:
        return dg.SkipReason(f"the schedule already ran every day from {days[0]} to {days[-1]}")
    return [
        dg.RunRequest(run_key=f"schedule:{day}", partition_key=day, tags=DAILY_RUN_TAGS)
        for day in todo
    ]


# A file modified this recently may still be being written; it is picked up on a later tick.
SETTLE_SECONDS = 2.0


def _load_cursor(raw: str | None) -> dict[str, dict[str, str]]:
    if not raw:
        return {"seen": {}, "ignored": {}}
    cursor = json.loads(raw)
    return {"seen": cursor.get("seen", {}), "ignored": cursor.get("ignored", {})}


@dg.sensor(
    job=retrain_job,
    minimum_interval_seconds=SETTINGS.sensor_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a run for day D when RETRAIN_DATA_DIR gets a new or changed "
    "YYYY-MM-DD.csv|parquet file; one run per file version.",
)
def new_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    if SETTINGS.data_dir is None:
        return dg.SkipReason("RETRAIN_DATA_DIR is not set: the demo stream has no files to watch")
    return evaluate_landing_dir(context, SETTINGS.data_dir, SETTINGS.start_date)


def evaluate_landing_dir(
    context: dg.SensorEvaluationContext, directory: Path, start_date: str, now: float | None = None
) -> dg.SensorResult:
    cursor = _load_cursor(context.cursor)
    scan = scan_landing_dir(directory, start_date)
    now = time.time() if now is None else now
    last_day = daily_partitions.get_last_partition_key()
    requests: list[dg.RunRequest] = []
    for name, why in scan.ignored:
        if cursor["ignored"].get(name) != why:
            context.log.info(f"ignoring {name}: {why}")
            cursor["ignored"][name] = why
    for day in sorted(scan.files):  # oldest first: runs are queued, and run, in date order
        files = scan.files[day]
        if last_day is None or day > last_day:
            continue  # a future day: its partition does not exist yet
        if len(files) > 1:
            names = " and ".join(f.path.name for f in files)
            if cursor["ignored"].get(day) != names:
                context.log.warning(f"ignoring {day}: both {names} exist; keep one")
                cursor["ignored"][day] = names
            continue
        landing = files[0]
        if now - landing.mtime_ns / 1e9 < SETTLE_SECONDS:
            continue
        if cursor["seen"].get(day) == landing.version:
            continue
        cursor["seen"][day] = landing.version
        requests.append(
            dg.RunRequest(
                run_key=f"{landing.path.name}@{landing.version}",
                partition_key=day,
                tags=DAILY_RUN_TAGS,
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
