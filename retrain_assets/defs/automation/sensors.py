"""new_data_sensor: new or changed landing files request runs, a range of days at a time."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from retrain_assets.data.landing import LandingFile, scan_landing_dir
from retrain_assets.defs.automation.jobs import DAILY_RUN_TAGS, retrain_job
from retrain_assets.defs.partitions import MAX_DAYS_PER_RUN, daily_partitions
from retrain_assets.settings import settings

SETTINGS = settings()
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def _load_cursor(raw: str | None) -> dict[str, dict[str, str]]:
    cursor = json.loads(raw) if raw else {}
    return {key: cursor.get(key, {}) for key in ("seen", "pending", "ignored")}


def group_days(
    new: list[str], barriers: set[str], max_days: int = MAX_DAYS_PER_RUN
) -> list[list[str]]:
    """Consecutive new days as ranges, oldest first, for one run each.

    A range never spans a barrier (a day already processed, which would run again for nothing,
    or a day the sensor ignores, which alone would never run) and covers at most `max_days`
    calendar days. Days without a file inside a range are recorded as skipped.
    """
    groups: list[list[str]] = []
    for day in sorted(new):
        if groups:
            current = groups[-1]
            span = daily_partitions.get_partition_keys_in_range(
                dg.PartitionKeyRange(current[0], day)
            )
            if len(span) <= max_days and not any(d in barriers for d in span):
                current.append(day)
                continue
        groups.append([day])
    return groups


def _request(group: list[LandingFile]) -> dg.RunRequest:
    first, last = group[0], group[-1]
    if len(group) == 1:
        return dg.RunRequest(
            run_key=f"{first.path.name}@{first.version}",
            partition_key=first.day,
            tags=DAILY_RUN_TAGS,
        )
    versions = hashlib.sha256(
        "\n".join(f"{f.path.name}@{f.version}" for f in group).encode()
    ).hexdigest()[:16]
    return dg.RunRequest(
        run_key=f"{first.day}..{last.day}@{versions}",
        tags={RANGE_START: first.day, RANGE_END: last.day},
    )


@dg.sensor(
    job=retrain_job,
    minimum_interval_seconds=SETTINGS.sensor_interval_s,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests retrain_job runs when RETRAIN_DATA_DIR gets new or changed "
    "YYYY-MM-DD.csv|parquet files: one run per file version, consecutive days as one range run.",
)
def new_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    if SETTINGS.data_dir is None:
        return dg.SkipReason("RETRAIN_DATA_DIR is not set: the demo stream has no files to watch")
    return evaluate_landing_dir(context, SETTINGS.data_dir, SETTINGS.start_date)


def evaluate_landing_dir(
    context: dg.SensorEvaluationContext, directory: Path, start_date: str
) -> dg.SensorResult:
    """One tick: request runs for new file versions that were already there, unchanged, at the
    tick before (an upload still being written, or a history still arriving, waits)."""
    cursor = _load_cursor(context.cursor)
    scan = scan_landing_dir(directory, start_date)
    last_day = daily_partitions.get_last_partition_key()
    for name, why in scan.ignored:
        if cursor["ignored"].get(name) != why:
            context.log.info(f"ignoring {name}: {why}")
            cursor["ignored"][name] = why
    new: dict[str, LandingFile] = {}
    ambiguous: set[str] = set()
    for day in sorted(scan.files):
        files = scan.files[day]
        if last_day is None or day > last_day:
            continue  # a future day: its partition does not exist yet
        if len(files) > 1:
            ambiguous.add(day)
            names = " and ".join(f.path.name for f in files)
            if cursor["ignored"].get(day) != names:
                context.log.warning(f"ignoring {day}: both {names} exist; keep one")
                cursor["ignored"][day] = names
            continue
        landing = files[0]
        if cursor["seen"].get(day) != landing.version:
            new[day] = landing
    # A version is ready once a tick before this one saw it too. Ready days are requested only
    # up to the oldest day still settling, so days run in date order even while files arrive.
    # (Not by mtime age: files copied with their old mtimes kept would be ready one by one as
    # they land, and a tick in the middle of such an upload would run newer days first.)
    settling = sorted(d for d, f in new.items() if cursor["pending"].get(d) != f.version)
    ready = [d for d in sorted(new) if d not in settling and (not settling or d < settling[0])]
    if settling:
        context.log.info(f"waiting one more tick for {len(settling)} new or changed file(s)")
    cursor["pending"] = {d: new[d].version for d in new if d not in ready}
    # A day whose file is refused (a symbolic link) would fail a range around it: ranges go
    # around it instead, as around an ambiguous day.
    barriers = {day for day in cursor["seen"] if day not in new} | ambiguous | scan.refused_days
    requests = []
    for group in group_days(ready, barriers):
        requests.append(_request([new[day] for day in group]))
        for day in group:
            cursor["seen"][day] = new[day].version
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
