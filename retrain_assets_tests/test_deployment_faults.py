"""Faults in the production topology: PostgreSQL restarting mid-run, the daemon killed, two days
submitted at once.

Each test runs docker-compose.yml's Dagster services (code server, webserver, daemon) as processes
with the project's dagster.yaml, against a fresh PostgreSQL database (proc_helpers), submits
retrain_job through GraphQL like the UI does, and judges the outcome from GraphQL, the Dagster
database and the model registry on disk.

PostgreSQL on 127.0.0.1:5432 must be reachable (skip locally, fail under CI=true). The restart test
also needs the server's own cluster tools (`pg_ctlcluster`), and always leaves the server running.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from retrain_assets.automation import previous_day
from retrain_assets.registry import ModelRegistry
from retrain_assets_tests import proc_helpers as ph

pytestmark = pytest.mark.e2e

MODEL_NAME = "classifier"  # RETRAIN_MODEL_NAME in .env.example
SCHEDULE = "retrain_schedule"
# Small windows keep each run short; the days below pass the accuracy gate with W=3 (demo stream).
FAST = {"RETRAIN_WINDOW_DAYS": "3"}
RUN_TIMEOUT = 240.0
SEMVER = re.compile(r"\d+\.\d+\.\d+")
REGISTRY_FILES = {"current.json", "history.jsonl", "versions", ".lock"}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def pg_db() -> Iterator[ph.PgDatabase]:
    with ph.fresh_pg_database("retrain_faults") as db:
        yield db


def step_events(db: ph.PgDatabase, run_id: str, step_key: str) -> dict[str, float]:
    """{event type: epoch seconds} of one step's events in the Dagster event log."""
    rows = db.query(
        "select dagster_event_type, extract(epoch from timestamp) from event_logs "
        "where run_id = %s and step_key = %s and dagster_event_type is not null order by id",
        [run_id, step_key],
    )
    return {str(kind): float(at) for kind, at in rows}


def history(model_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (model_dir / "history.jsonl").read_text().splitlines()]


def assert_registry_consistent(model_dir: Path) -> dict[str, Any]:
    """current.json names a complete, checksum-correct version, and nothing half-written shows.

    Returns current.json.
    """
    extra = {p.name for p in model_dir.iterdir()} - REGISTRY_FILES
    assert not extra, f"unexpected files in the registry (a temporary current.json?): {extra}"
    versions_dir = model_dir / "versions"
    for entry in versions_dir.iterdir():
        # Staging directories are `.tmp-<version>-<uuid>`; a crash may leave one, a deploy
        # removes it, and it must never look like a version.
        assert SEMVER.fullmatch(entry.name), f"not a version directory: {entry}"
        assert entry.is_dir() and {p.name for p in entry.iterdir()} == {
            "model.skops",
            "card.json",
        }, f"incomplete version {entry}: {sorted(p.name for p in entry.iterdir())}"
        card = json.loads((entry / "card.json").read_text())
        digest = hashlib.sha256((entry / "model.skops").read_bytes()).hexdigest()
        assert card["version"] == entry.name and card["sha256"] == digest, entry
    current = json.loads((model_dir / "current.json").read_text())
    assert (versions_dir / current["version"]).is_dir(), f"current.json -> missing {current}"
    card = json.loads((versions_dir / current["version"] / "card.json").read_text())
    assert current["sha256"] == card["sha256"]
    # The registry's own loader verifies the checksum again.
    ModelRegistry(model_dir.parent, MODEL_NAME).load_bytes(current["version"])
    return current


def run_report(topo: ph.ComposeTopology, run_id: str) -> str:
    return f"run {run_id}:\n" + "\n".join(ph.run_error_messages(topo.url, run_id))


def assert_serial(runs: Sequence[dict[str, Any]]) -> None:
    """The runs started in this order and never overlapped (each started after the last ended)."""
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier["endTime"] <= later["startTime"], (
            f"runs overlap: {earlier['runId']} ({earlier['tags'].get(ph.PARTITION_TAG)}) "
            f"{earlier['startTime']:.2f}..{earlier['endTime']:.2f} and {later['runId']} "
            f"({later['tags'].get(ph.PARTITION_TAG)}) started {later['startTime']:.2f}"
        )


# ---- PostgreSQL server control -----------------------------------------------------------


def _local_cluster(server: ph.PgServer) -> tuple[str, str] | None:
    """(version, name) of the Debian-style cluster serving ``server``'s port on this host."""
    if server.host not in {"127.0.0.1", "localhost"} or shutil.which("pg_lsclusters") is None:
        return None
    out = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == str(server.port):
            return fields[0], fields[1]
    return None


def _pg_ctl(cluster: tuple[str, str], action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cluster_online(cluster: tuple[str, str]) -> bool:
    out = subprocess.run(
        ["pg_lsclusters", "--no-header", *cluster], capture_output=True, text=True, timeout=30
    ).stdout
    return "online" in out.split()


def _wait_accepting(server: ph.PgServer, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (reason := ph.postgres_unavailable_reason(server)) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(reason)
        time.sleep(0.2)


@pytest.fixture
def pg_cluster() -> Iterator[tuple[str, str]]:
    """The local cluster behind the test server; running again after the test, whatever happens."""
    server = ph.PgServer.from_env()
    ph.require_postgres(server)
    cluster = _local_cluster(server)
    if cluster is None:
        reason = f"no local pg_ctlcluster cluster serves {server.host}:{server.port}"
        if ph.in_ci():
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield cluster
    finally:
        if not _cluster_online(cluster):
            _pg_ctl(cluster, "start")
        _wait_accepting(server)


# ---------------------------------------------------------------------------------------------
# 1. PostgreSQL restarts while a run is in flight
# ---------------------------------------------------------------------------------------------

PG_DAY = "2026-03-10"
# 300 trees instead of 100: trained_model runs for seconds, long enough to restart the server
# while it is in flight.
SLOW_TRAINING = {"ops": {"trained_model": {"config": {"hyperparameters": {"n_estimators": 300}}}}}


def final_run_of(topo: ph.ComposeTopology, run_id: str, timeout: float) -> dict[str, Any]:
    """Follow run retries from ``run_id`` to the run that settles the day.

    A failed run is final once Dagster has tagged it `dagster/will_retry=false`; with `true`, the
    daemon launches a retry (tagged with the root run id and its parent) and that one is followed.
    """
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(deadline - time.monotonic(), 1.0)

    run = topo.wait_runs([run_id], timeout)[run_id]
    while run["status"] == "FAILURE":
        parent = run["runId"]

        def decided(parent: str = parent) -> str | None:
            return topo.runs(run_ids=[parent])[0]["tags"].get("dagster/will_retry")

        def retry(parent: str = parent) -> dict[str, Any] | None:
            children = topo.runs(tags={"dagster/root_run_id": run_id})
            return next(
                (r for r in children if r["tags"].get("dagster/parent_run_id") == parent), None
            )

        with topo.failing_with_logs():
            if ph._wait(f"the retry decision for {parent}", decided, left(), None) != "true":
                return run
            child = ph._wait(f"the retry of {parent}", retry, left(), topo.procs.check_alive)
        run = topo.wait_runs([child["runId"]], left())[child["runId"]]
    return run


def test_postgres_restart_during_a_run_still_deploys_the_day(
    tmp_path: Path, pg_cluster: tuple[str, str], pg_db: ph.PgDatabase
) -> None:
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    with ph.ComposeTopology(tmp_path, pg_db, **FAST) as topo:
        topo.start()
        timings["topology_up"] = time.monotonic() - t0
        run_id = topo.submit(PG_DAY, SLOW_TRAINING)

        def trained_model_running() -> bool | None:
            events = step_events(pg_db, run_id, "trained_model")
            return True if "STEP_START" in events else None

        with topo.failing_with_logs():
            ph._wait("trained_model to start", trained_model_running, RUN_TIMEOUT, None, 0.05)
        assert ph.run_status(topo.url, run_id) == "STARTED"
        (booted_before,) = pg_db.query("select pg_postmaster_start_time()")[0]
        restart_began = time.time()
        result = _pg_ctl(pg_cluster, "restart")
        restart_ended = time.time()
        assert result.returncode == 0, f"pg_ctlcluster restart: {result.stdout}{result.stderr}"
        _wait_accepting(pg_db.server)
        (booted_after,) = pg_db.query("select pg_postmaster_start_time()")[0]
        assert booted_after > booted_before, "the server did not restart"
        timings["pg_restarted"] = time.monotonic() - t0

        final = final_run_of(topo, run_id, RUN_TIMEOUT)
        timings["day_settled"] = time.monotonic() - t0
        chain = sorted(
            topo.runs(tags={"dagster/root_run_id": run_id}), key=lambda r: r["creationTime"]
        )
        assert final["status"] == "SUCCESS", (
            f"the day did not end deployed; runs: {[(run_id, 'root')]} + "
            f"{[(r['runId'], r['status']) for r in chain]}\n"
            + "\n".join(run_report(topo, r) for r in [run_id, *(r["runId"] for r in chain)])
            + f"\n{topo.procs.logs(60)}"
        )
        logs = {s: topo.log_text(s) for s in ph.DAGSTER_SERVICES}

    # The restart really hit the run: trained_model had started and had not finished yet.
    steps = step_events(pg_db, run_id, "trained_model")
    assert steps["STEP_START"] < restart_began, steps
    trained_end = steps.get("STEP_SUCCESS", steps.get("STEP_FAILURE"))
    assert trained_end is None or trained_end > restart_began, (steps, restart_began)

    # The day is deployed by the run that settled it, and the registry is whole.
    model_dir = topo.model_dir
    current = assert_registry_consistent(model_dir)
    assert current["partition"] == PG_DAY and current["run_id"] == final["runId"]
    card = json.loads((model_dir / "versions" / current["version"] / "card.json").read_text())
    assert card["params"]["n_estimators"] == 300, "the run config reached trained_model"
    deployed = [e for e in history(model_dir) if e["event"] == "deployed"]
    assert [(e["partition"], e["run_id"]) for e in deployed] == [(PG_DAY, final["runId"])]
    rows = pg_db.query("select status from runs where run_id = %s", [final["runId"]])
    assert rows == [("SUCCESS",)]

    retried = {s: log.count("Retrying failed database connection") for s, log in logs.items()}
    print(
        f"\npg restart: {restart_ended - restart_began:.2f}s while trained_model ran "
        f"(started {restart_began - steps['STEP_START']:.2f}s before); final run "
        f"{final['runId']} ({'original' if final['runId'] == run_id else 'retry'}); "
        f"connection retries logged per service: {retried}; timings: {timings}"
    )


# ---------------------------------------------------------------------------------------------
# 2. The daemon killed: runs wait in the queue, then drain in order; missed schedule ticks
# ---------------------------------------------------------------------------------------------

QUEUED_DAYS = ("2026-03-03", "2026-03-04", "2026-03-05")
DEQUEUE_INTERVAL_S = 2  # dagster.yaml run_coordinator.config.dequeue_interval_seconds
OUTAGE = dt.timedelta(days=10)


def _schedule_state(instance: Any) -> Any:
    from dagster._core.scheduler.instigation import InstigatorType

    states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    return next((s for s in states if s.instigator_name == SCHEDULE), None)


def test_daemon_killed_queue_drains_in_order_and_missed_tick_runs(
    tmp_path: Path, pg_db: ph.PgDatabase
) -> None:
    from dagster._core.scheduler.instigation import ScheduleInstigatorData, TickStatus

    t0 = time.monotonic()
    timings: dict[str, float] = {}
    now = dt.datetime.now(dt.UTC)
    # A daily cron whose natural tick is 12 h away, so nothing fires by itself during the test.
    cron = f"0 {(now.hour + 12) % 24} * * *"
    with ph.ComposeTopology(tmp_path, pg_db, RETRAIN_SCHEDULE_CRON=cron, **FAST) as topo:
        topo.start()
        with topo.instance() as instance, topo.failing_with_logs():
            # The daemon records the default-RUNNING schedule's state on its first iteration.
            state = ph._wait(
                "the daemon to register retrain_schedule",
                lambda: _schedule_state(instance),
                60,
                topo.procs.check_alive,
            )
        timings["topology_up"] = time.monotonic() - t0

        topo.kill("daemon")
        killed_at = time.time()
        # The outage, seen by the scheduler as it would see a real one: the schedule has been
        # running for ten days and the daemon has evaluated none of its ticks since.
        with topo.instance() as instance:
            assert not instance.get_ticks(state.instigator_origin_id, state.selector_id)
            data = state.instigator_data
            instance.update_instigator_state(
                state.with_data(
                    ScheduleInstigatorData(
                        cron_schedule=data.cron_schedule,
                        start_timestamp=(now - OUTAGE).timestamp(),
                    )
                )
            )
        run_ids = [topo.submit(day) for day in QUEUED_DAYS]
        # Without a daemon nothing dequeues: the runs wait, QUEUED, for several poll intervals.
        time.sleep(3 * DEQUEUE_INTERVAL_S)
        queued = {r["runId"]: r["status"] for r in topo.runs(run_ids=run_ids)}
        assert queued == dict.fromkeys(run_ids, "QUEUED"), queued

        daemon_back = time.time()
        topo.start_service("daemon")
        timings["daemon_restarted"] = time.monotonic() - t0

        # The scheduler evaluates the missed ticks on its first iteration.
        with topo.instance() as instance, topo.failing_with_logs():
            ticks = ph._wait(
                "retrain_schedule's catch-up ticks",
                lambda: (
                    t
                    if (t := instance.get_ticks(state.instigator_origin_id, state.selector_id))
                    and all(x.status != TickStatus.STARTED for x in t)
                    else None
                ),
                120,
                topo.procs.check_alive,
            )
        scheduled = topo.runs(tags={"dagster/schedule_name": SCHEDULE})
        # Keep the schedule's runs out of the queue under test: their day depends on today's date.
        for run in scheduled:
            ph.graphql(
                topo.url,
                "mutation($id: String!) { terminateRun(runId: $id) { __typename } }",
                {"id": run["runId"]},
            )

        done = topo.wait_runs(run_ids, RUN_TIMEOUT)
        timings["queue_drained"] = time.monotonic() - t0
        # Every run the schedule created is the one it was told to be (cancelled by us above).
        with topo.instance() as instance:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        daemon_log = topo.log_text("daemon")

    ordered = [done[run_id] for run_id in run_ids]
    failed = [r["runId"] for r in ordered if r["status"] != "SUCCESS"]
    assert not failed, "\n".join(f"{r['runId']}: {r['status']}" for r in ordered)
    # They waited for the daemon, then ran one at a time, oldest day first (queue order).
    assert all(r["startTime"] >= daemon_back for r in ordered), (daemon_back, ordered)
    assert_serial(ordered)
    model_dir = topo.model_dir
    current = assert_registry_consistent(model_dir)
    assert current["partition"] == QUEUED_DAYS[-1] and current["run_id"] == run_ids[-1]
    deployed = [
        (e["partition"], e["run_id"]) for e in history(model_dir) if e["event"] == "deployed"
    ]
    assert deployed == list(zip(QUEUED_DAYS, run_ids, strict=True))

    # Missed schedule ticks. Ten daily ticks were missed; dagster.yaml allows up to 7 catch-up
    # runs (scheduler.max_catchup_runs). Dagster 1.13 catches up only schedules that have a
    # partition set, and a @schedule on a partitioned asset job has none (its snapshot's
    # partition_set_name is always None): the daemon logs "has no partition set, so not trying
    # to catch up" and launches the most recent missed tick alone.
    hour = int(cron.split()[1])
    missed = sorted(
        tick
        for back in range(OUTAGE.days + 1)
        if now - OUTAGE
        < (tick := (now - dt.timedelta(days=back)).replace(hour=hour, minute=0, second=0))
        <= now
    )
    assert len(missed) == OUTAGE.days
    latest_day = previous_day(missed[-1])
    tick_days = sorted(previous_day(dt.datetime.fromtimestamp(t.timestamp, dt.UTC)) for t in ticks)
    run_days = sorted(r["tags"][ph.PARTITION_TAG] for r in scheduled)
    assert latest_day in run_days, f"the latest missed day was not run: {run_days}"
    assert tick_days == run_days == [latest_day], (
        f"catch-up changed: ticks for {tick_days}, runs for {run_days}; update this test and "
        "the dagster.yaml/README notes on catch-up"
    )
    assert "has no partition set, so not trying to catch up" in daemon_log
    print(
        f"\ndaemon down {daemon_back - killed_at:.1f}s; runs "
        f"{[(r['tags'][ph.PARTITION_TAG], round(r['startTime'] - daemon_back, 1)) for r in ordered]}"
        f" (start, s after the daemon came back); schedule launched {run_days} for "
        f"{len(missed)} missed ticks; timings: {timings}"
    )


# ---------------------------------------------------------------------------------------------
# 3. Two days submitted at once, the newer one first
# ---------------------------------------------------------------------------------------------

NEWER_DAY, OLDER_DAY = "2026-03-08", "2026-03-07"


def test_two_days_at_once_run_one_after_the_other_and_newer_day_stays_live(
    tmp_path: Path, pg_db: ph.PgDatabase
) -> None:
    t0 = time.monotonic()
    with ph.ComposeTopology(tmp_path, pg_db, **FAST) as topo:
        topo.start()
        up = time.monotonic() - t0
        newer_id = topo.submit(NEWER_DAY)
        older_id = topo.submit(OLDER_DAY)
        done = topo.wait_runs([newer_id, older_id], RUN_TIMEOUT)
        for run_id in (newer_id, older_id):
            assert done[run_id]["status"] == "SUCCESS", run_report(topo, run_id)
    elapsed = time.monotonic() - t0

    # Queue order, one at a time: the newer day (submitted first) ran and ended before the other.
    newer, older = done[newer_id], done[older_id]
    assert newer["startTime"] < older["startTime"]
    assert_serial([newer, older])
    # The deploy steps (pool model_registry) never overlapped either.
    deploys = [step_events(pg_db, r, "deployed_model_version") for r in (newer_id, older_id)]
    assert deploys[0]["STEP_SUCCESS"] <= deploys[1]["STEP_START"], deploys

    # The live model is the newer day's; the older day was published but did not move it back.
    model_dir = topo.model_dir
    current = assert_registry_consistent(model_dir)
    assert (current["partition"], current["run_id"]) == (NEWER_DAY, newer_id)
    events = [(e["event"], e["partition"], e["run_id"]) for e in history(model_dir)]
    assert events == [
        ("deployed", NEWER_DAY, newer_id),
        ("superseded", OLDER_DAY, older_id),
    ]
    older_version = history(model_dir)[1]["version"]
    assert older_version != current["version"]
    assert (
        json.loads((model_dir / "versions" / older_version / "card.json").read_text())["partition"]
        == OLDER_DAY
    )
    print(
        f"\nnewer {NEWER_DAY} took {newer['endTime'] - newer['startTime']:.1f}s, older {OLDER_DAY} started "
        f"{older['startTime'] - newer['endTime']:.1f}s after it ended and took "
        f"{older['endTime'] - older['startTime']:.1f}s; topology up {up:.1f}s, total {elapsed:.1f}s"
    )
