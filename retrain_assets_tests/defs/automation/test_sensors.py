"""defs/automation/sensors.py: the landing-directory sensor and its ranges of days.

Evaluated with Dagster's own test contexts and a clock pinned by partition_loading_context.
"""

import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg

from retrain_assets.defs.automation.jobs import DAILY_RUN_TAGS
from retrain_assets.defs.automation.sensors import (
    RANGE_END,
    RANGE_START,
    evaluate_landing_dir,
    group_days,
)
from retrain_assets.defs.partitions import MAX_DAYS_PER_RUN, days_between

UTC = dt.UTC


def _write(path: Path, text: str) -> None:
    path.write_text(text)


# The sensor's "today" in these tests, whatever the clock says: the newest partition is the day
# before (Dagster's partitions read the time from this context).
TODAY = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _tick(directory: Path, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    with dg.instance_for_test() as instance, dg.partition_loading_context(effective_dt=TODAY):
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        result = evaluate_landing_dir(context, directory, "2026-01-01")
    return list(result.run_requests or []), result.cursor


def _settled(directory: Path, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    """Two ticks: a new file version is requested once a second tick finds it unchanged."""
    first, cursor = _tick(directory, cursor)
    assert first == []
    return _tick(directory, cursor)


def test_sensor_requests_a_history_upload_as_one_range_run(tmp_path: Path) -> None:
    for day in ("2026-03-03", "2026-03-01", "2026-03-02"):
        _write(tmp_path / f"{day}.csv", "f0,target\n1,0\n")
    requests, cursor = _settled(tmp_path, None)
    assert len(requests) == 1
    assert requests[0].partition_key is None
    assert (requests[0].tags[RANGE_START], requests[0].tags[RANGE_END]) == (
        "2026-03-01",
        "2026-03-03",
    )
    again, cursor_after = _tick(tmp_path, cursor)  # nothing changed: no run
    assert again == [] and json.loads(cursor_after) == json.loads(cursor)

    # A single new file later gets its own one-day run.
    _write(tmp_path / "2026-03-04.csv", "f0,target\n1,0\n")
    (single,), _ = _settled(tmp_path, cursor)
    assert single.partition_key == "2026-03-04" and single.tags == DAILY_RUN_TAGS


def test_files_copied_with_old_mtimes_still_wait_a_tick(tmp_path: Path) -> None:
    # cp -p, rsync -t, tar: each file gets its old mtime as it lands. Judged by mtime age, a tick
    # in the middle of such a copy would run the days that landed first (newest first, maybe)
    # before the older ones; a second tick sees the whole upload.
    for day in ("2026-03-03", "2026-03-02"):
        _write(tmp_path / f"{day}.csv", "f0,target\n1,0\n")
        os.utime(tmp_path / f"{day}.csv", (1_000_000, 1_000_000))
    first, cursor = _tick(tmp_path, None)
    assert first == []
    _write(tmp_path / "2026-03-01.csv", "f0,target\n1,0\n")  # the copy goes on
    os.utime(tmp_path / "2026-03-01.csv", (1_000_000, 1_000_000))
    second, cursor = _tick(tmp_path, cursor)
    assert second == []  # 03-01 is new: the later days wait for it, in date order
    (request,), _ = _tick(tmp_path, cursor)
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-03-01", "2026-03-03")


def test_files_still_arriving_hold_back_their_days_and_every_later_one(tmp_path: Path) -> None:
    _write(tmp_path / "2026-03-01.csv", "f0,target\n1,0\n")
    _write(tmp_path / "2026-03-03.csv", "f0,target\n1,0\n")
    _, cursor = _tick(tmp_path, None)
    # 03-02 arrives and 03-03 grows: only 03-01 (older than both) is ready.
    _write(tmp_path / "2026-03-02.csv", "f0,target\n1,0\n")
    _write(tmp_path / "2026-03-03.csv", "f0,target\n1,0\n2,1\n")
    (request,), cursor = _tick(tmp_path, cursor)
    assert request.partition_key == "2026-03-01"
    (request,), _ = _tick(tmp_path, cursor)
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-03-02", "2026-03-03")


def test_ranges_cap_at_the_batch_limit_and_never_span_processed_days() -> None:
    days = days_between("2026-01-01", "2026-09-30")
    groups = group_days(days, barriers=set())
    assert [len(g) for g in groups] == [MAX_DAYS_PER_RUN, MAX_DAYS_PER_RUN, len(days) - 200]
    assert [d for g in groups for d in g] == days  # every day once, in date order
    # Gaps without a file stay inside a range (they are recorded as skipped there) ...
    gap = ["2026-03-01", "2026-03-04"]
    assert group_days(gap, barriers=set()) == [gap]
    # ... but an already processed day splits it: it is not run again for nothing.
    assert group_days(["2026-03-01", "2026-03-04"], barriers={"2026-03-02"}) == [
        ["2026-03-01"],
        ["2026-03-04"],
    ]


def test_sensor_reruns_a_changed_file_once(tmp_path: Path) -> None:
    path = tmp_path / "2026-03-01.csv"
    _write(path, "f0,target\n1,0\n")
    first, cursor = _settled(tmp_path, None)
    _write(path, "f0,target\n1,0\n2,1\n")
    second, cursor = _settled(tmp_path, cursor)
    third, cursor = _tick(tmp_path, cursor)
    assert [r.partition_key for r in first] == ["2026-03-01"]
    assert [r.partition_key for r in second] == ["2026-03-01"]
    assert second[0].run_key != first[0].run_key
    assert third == []


def test_sensor_ignores_bad_names_early_days_and_uploads_in_progress(tmp_path: Path) -> None:
    _write(tmp_path / "notes.csv", "x")
    _write(tmp_path / "2026-02-30.csv", "x")  # not a real date
    _write(tmp_path / "2025-12-31.csv", "f0,target\n1,0\n")  # before RETRAIN_START_DATE
    _write(tmp_path / ".2026-03-02.csv.part", "x")  # an upload in progress
    requests, cursor = _settled(tmp_path, None)
    assert requests == []
    ignored = json.loads(cursor)["ignored"]
    assert set(ignored) == {"notes.csv", "2026-02-30.csv", "2025-12-31.csv"}
    assert "before RETRAIN_START_DATE" in ignored["2025-12-31.csv"]
    # Once the upload is renamed into place, it is picked up.
    (tmp_path / ".2026-03-02.csv.part").rename(tmp_path / "2026-03-02.csv")
    requests, _ = _settled(tmp_path, cursor)
    assert [r.partition_key for r in requests] == ["2026-03-02"]


def test_sensor_skips_a_day_with_both_csv_and_parquet_and_ranges_go_around_it(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "2026-03-01.csv", "f0,target\n1,0\n")
    _write(tmp_path / "2026-03-01.parquet", "not really parquet")
    requests, cursor = _settled(tmp_path, None)
    assert requests == []
    assert "2026-03-01" in json.loads(cursor)["ignored"]
    for day in ("2026-02-28", "2026-03-02"):
        _write(tmp_path / f"{day}.csv", "f0,target\n1,0\n")
    requests, _ = _settled(tmp_path, cursor)
    assert [r.partition_key for r in requests] == ["2026-02-28", "2026-03-02"]


def test_sensor_skips_future_days(tmp_path: Path) -> None:
    # Today's partition exists (end_offset=1: a day's file may land and run the same day);
    # tomorrow's and later do not yet.
    for day in ("2026-05-31", "2026-06-01", "2026-06-02", "2026-06-04"):
        _write(tmp_path / f"{day}.csv", "f0,target\n1,0\n")
    (request,) = _settled(tmp_path, None)[0]
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2026-05-31", "2026-06-01")


def test_ranges_go_around_a_day_whose_file_is_refused(tmp_path: Path) -> None:
    for day in ("2026-03-01", "2026-03-03"):
        _write(tmp_path / f"{day}.csv", "f0,target\n1,0\n")
    _write(tmp_path / "elsewhere.txt", "f0,target\n1,0\n")
    (tmp_path / "2026-03-02.csv").symlink_to(tmp_path / "elsewhere.txt")
    requests, _ = _settled(tmp_path, None)
    assert [r.partition_key for r in requests] == ["2026-03-01", "2026-03-03"]
