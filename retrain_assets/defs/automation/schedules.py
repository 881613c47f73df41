"""retrain_schedule: the previous UTC day, every day, catching up the days it missed."""

import datetime as dt

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string

from retrain_assets.artifacts import DECIDED, ArtifactStore
from retrain_assets.defs.automation.jobs import DAILY_RUN_TAGS, retrain_job
from retrain_assets.settings import SettingsError, reported, settings

SETTINGS = settings()
if not is_valid_cron_string(SETTINGS.schedule_cron):  # Dagster's own check, named for people
    raise reported(
        SettingsError(
            f"RETRAIN_SCHEDULE_CRON={SETTINGS.schedule_cron!r} is not a cron expression Dagster "
            "accepts (five fields, e.g. '0 1 * * *' for 01:00 UTC daily)"
        )
    )

# Dagster 1.13 does not catch up missed ticks of a schedule on a partitioned asset job (it has no
# partition set; scheduler.max_catchup_runs does not apply), so the schedule does it: each tick
# requests every day of the last week that it has not launched a run for yet, oldest first.
CATCHUP_DAYS = 7


def previous_day(moment: dt.datetime) -> str:
    return (moment.astimezone(dt.UTC).date() - dt.timedelta(days=1)).isoformat()


def _decided(store: ArtifactStore, day: str) -> bool:
    record = store.read_outcome(day)
    return record is not None and record.outcome in DECIDED


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
    if SETTINGS.data_dir is not None:
        # With a landing directory new_data_sensor runs each file version once; the schedule
        # covers only days no run has decided yet (a file that landed while the daemon was down).
        store = ArtifactStore.for_source(SETTINGS.storage_dir, SETTINGS.data_dir)
        todo = [day for day in todo if not _decided(store, day)]
    if not todo:
        return dg.SkipReason(f"every day from {days[0]} to {days[-1]} was already run or decided")
    return [
        dg.RunRequest(run_key=f"schedule:{day}", partition_key=day, tags=DAILY_RUN_TAGS)
        for day in todo
    ]
