"""Faults in the production topology: PostgreSQL restarting, the daemon killed, a double submit.

PostgreSQL restarts mid-run, the daemon is killed, two days are submitted at once.

Each test runs docker-compose.yml's Dagster services (code server, webserver, daemon) as processes
with the project's dagster.yaml, against a fresh PostgreSQL database (support/postgres.py), submits
retrain_job through GraphQL like the UI does, and judges the outcome from GraphQL, the Dagster
database and the model registry on disk.

PostgreSQL on 127.0.0.1:5432 must be reachable (skip locally, fail under CI=true). The restart test
also needs the server's own cluster tools (`pg_ctlcluster`), always leaves the server running, and
holds it exclusively meanwhile (support.postgres_server_lock): PostgreSQL tests in other
pytest-xdist workers wait for it rather than lose their server mid-test.
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

from retrain_assets.defs.automation.schedules import CATCHUP_DAYS, previous_day
from retrain_assets.registry import ModelRegistry
from retrain_assets_tests import support as ph

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


def run_events(db: ph.PgDatabase, run_id: str) -> dict[str, float]:
    """{event type: epoch seconds of its last occurrence} for every Dagster event of a run."""
    rows = db.query(
        "select dagster_event_type, max(extract(epoch from timestamp)) from event_logs "
        "where run_id = %s and dagster_event_type is not null group by dagster_event_type",
        [run_id],
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
    try:
        return f"run {run_id}:\n" + "\n".join(ph.run_error_messages(topo.url, run_id))
    except (OSError, ValueError, ph.GraphQLError) as exc:
        return f"run {run_id}: no logs from GraphQL ({exc!r})"


def settled(topo: ph.ComposeTopology, what: str, read: Any, timeout: float = 30.0) -> Any:
    """``read()`` through GraphQL, retried while the webserver still fails after a PostgreSQL
    restart: its first request on each stale database connection errors out once (observed:
    "server closed the connection unexpectedly" in runsOrError, HTTP 500 from logsForRun).
    """
    with topo.failing_with_logs():
        return ph.wait_until(what, read, timeout, topo.procs.check_alive)


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


def ensure_running(cluster: tuple[str, str], server: ph.PgServer) -> None:
    """Start the cluster if it is down, and wait until it accepts connections."""
    if not _cluster_online(cluster):
        _pg_ctl(cluster, "start")
    _wait_accepting(server)


def restart_postgres(cluster: tuple[str, str], server: ph.PgServer) -> None:
    """`pg_ctlcluster restart` (fast shutdown: open sessions are terminated); running after."""
    try:
        result = _pg_ctl(cluster, "restart")
        assert result.returncode == 0, f"pg_ctlcluster restart: {result.stdout}{result.stderr}"
    finally:
        ensure_running(cluster, server)


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
    # Other pytest-xdist workers' PostgreSQL tests finish first, and wait for us.
    with ph.postgres_server_lock(server, exclusive=True):
        try:
            yield cluster
        finally:
            ensure_running(cluster, server)


@pytest.fixture
def pg_db_restartable(pg_cluster: tuple[str, str]) -> Iterator[ph.PgDatabase]:
    """A fresh database on a server this test holds exclusively (see pg_cluster)."""
    with ph.fresh_pg_database("retrain_faults") as db:
        yield db


# ---------------------------------------------------------------------------------------------
# 1. PostgreSQL restarts while a run is in flight
# ---------------------------------------------------------------------------------------------

PG_DAY = "2026-03-10"
# 300 trees instead of 100: the retraining step runs for seconds, long enough to restart the
# server while it is in flight.
SLOW_TRAINING = {"ops": {"retraining": {"config": {"hyperparameters": {"n_estimators": 300}}}}}
# The next day that passes the gate against PG_DAY's model as champion (2026-03-11 is blocked).
PG_DAY_OUTAGE = "2026-03-12"
PG_RETRY_LINE = "Retrying failed database connection"  # dagster-postgres, on a failed connect
STEPS = ("retraining",)  # one op: the four assets and the check, day by day


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
            if ph.wait_until(f"the retry decision for {parent}", decided, left(), None) != "true":
                return run
            child = ph.wait_until(f"the retry of {parent}", retry, left(), topo.procs.check_alive)
        run = topo.wait_runs([child["runId"]], left())[child["runId"]]
    return run


def submit_retrying(
    topo: ph.ComposeTopology, partition: str, timeout: float = 30.0
) -> tuple[str, list[str]]:
    """Submit like a user who clicks "Launch" again after an error; returns (run id, errors)."""
    from dagster_graphql import DagsterGraphQLClientError

    errors: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            return topo.submit(partition), errors
        except DagsterGraphQLClientError as exc:
            errors.append(str(exc))
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def wait_fit_start(topo: ph.ComposeTopology, db: ph.PgDatabase, run_id: str) -> None:
    """Until the retraining step has logged its last line before the fit: from then on the run
    worker writes nothing to the database for seconds (300 trees), the window a fault aims at."""

    def logged() -> bool | None:
        rows = db.query(
            "select 1 from event_logs where run_id = %s and event like %s limit 1",
            [run_id, "%not ingested yet, read from the source%"],
        )
        return True if rows else None

    with topo.failing_with_logs():
        ph.wait_until(f"{run_id} to start fitting", logged, RUN_TIMEOUT,
                      topo.procs.check_alive, 0.05)  # fmt: skip


def assert_day_deployed(topo: ph.ComposeTopology, run_id: str, final: dict[str, Any]) -> None:
    retries = settled(
        topo, "the run's retries", lambda: topo.runs(tags={"dagster/root_run_id": run_id})
    )
    chain = [run_id, *(r["runId"] for r in sorted(retries, key=lambda r: r["creationTime"]))]
    assert final["status"] == "SUCCESS", (
        f"the day did not end deployed; runs {chain}, the last {final['status']}\n"
        + "\n".join(run_report(topo, r) for r in chain)
        + f"\n{topo.procs.logs(60)}"
    )


def test_postgres_restart_during_a_run_still_deploys_the_day(
    tmp_path: Path, pg_cluster: tuple[str, str], pg_db_restartable: ph.PgDatabase
) -> None:
    """Two faults in one topology, one run each:

    A. `pg_ctlcluster restart` while the op runs (the server is gone for a fraction of a
       second, so the run worker may or may not touch it in between);
    B. the server stopped while the op runs and started again only once the run worker has
       hit it (a failed connect), so the run provably writes into the outage.
    Either way the day must end deployed, by the same run or by a run retry.
    """
    pg_db, server = pg_db_restartable, pg_db_restartable.server
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    with ph.ComposeTopology(tmp_path, pg_db, **FAST) as topo:
        topo.start()
        timings["topology_up"] = time.monotonic() - t0

        # ---- A: restart ------------------------------------------------------------------
        run_a = topo.submit(PG_DAY, SLOW_TRAINING)
        wait_fit_start(topo, pg_db, run_a)
        assert ph.run_status(topo.url, run_a) == "STARTED"
        (booted_before,) = pg_db.query("select pg_postmaster_start_time()")[0]
        restart_began = time.time()
        restart_postgres(pg_cluster, server)
        restart_ended = time.time()
        (booted_a,) = pg_db.query("select pg_postmaster_start_time()")[0]
        assert booted_a > booted_before, "the server did not restart"
        final_a = final_run_of(topo, run_a, RUN_TIMEOUT)
        assert_day_deployed(topo, run_a, final_a)
        timings["restart_settled"] = time.monotonic() - t0

        # ---- B: stop until the run worker hits the outage, then start --------------------
        # The webserver keeps one pooled connection per storage, which the restart left stale:
        # the first launch through it may fail once, as it would for a user in the UI.
        run_b, failed_launches = submit_retrying(topo, PG_DAY_OUTAGE)
        wait_fit_start(topo, pg_db, run_b)
        # The run workers' output goes to the code server's log; while the server is down, the
        # code server itself does not query the database (no run worker died, no tick is due),
        # so a new failed-connect line there is the run worker hitting the outage.
        seen = topo.log_text("code_server").count(PG_RETRY_LINE)
        hit = False
        try:
            result = _pg_ctl(pg_cluster, "stop")  # returns once the server is down
            stopped_at = time.time()
            assert result.returncode == 0, f"pg_ctlcluster stop: {result.stdout}{result.stderr}"
            deadline = time.monotonic() + 15
            while not (hit := topo.log_text("code_server").count(PG_RETRY_LINE) > seen):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        finally:
            ensure_running(pg_cluster, server)
        (booted_b,) = pg_db.query("select pg_postmaster_start_time()")[0]
        final_b = final_run_of(topo, run_b, RUN_TIMEOUT)
        assert_day_deployed(topo, run_b, final_b)
        timings["outage_settled"] = time.monotonic() - t0

    # A: the restart came while the retraining step ran, and the run outlived it.
    steps_a = step_events(pg_db, run_a, "retraining")
    assert steps_a["STEP_START"] < restart_began, steps_a
    assert max(run_events(pg_db, run_a).values()) > booted_a.timestamp(), "run A ended first"
    # B: the run worker tried to reach the database while it was down, and nothing it wrote is
    # missing: every step and the run itself are recorded as successes (or, had its writes
    # been lost, a run retry settled the day).
    assert hit, "run B did not touch the database while it was down: the outage missed it"
    recorded = {
        row[0]
        for row in pg_db.query(
            "select step_key from event_logs where run_id = %s "
            "and dagster_event_type = 'STEP_SUCCESS'",
            [run_b],
        )
    }
    if final_b["runId"] == run_b:
        assert recorded == set(STEPS), recorded
        assert "PIPELINE_SUCCESS" in run_events(pg_db, run_b)  # RUN_SUCCESS, stored by its old name

    # Both days deployed, each by the run that settled it, and the registry is whole.
    model_dir = topo.model_dir
    current = assert_registry_consistent(model_dir)
    assert (current["partition"], current["run_id"]) == (PG_DAY_OUTAGE, final_b["runId"])
    deployed = [
        (e["partition"], e["run_id"]) for e in history(model_dir) if e["event"] == "deployed"
    ]
    assert deployed == [(PG_DAY, final_a["runId"]), (PG_DAY_OUTAGE, final_b["runId"])]
    version_a = next(e["version"] for e in history(model_dir) if e["partition"] == PG_DAY)
    first = json.loads((model_dir / "versions" / version_a / "card.json").read_text())
    assert first["params"]["n_estimators"] == 300, "the run config reached the retraining op"
    finals = [final_a["runId"], final_b["runId"]]
    rows = pg_db.query("select status from runs where run_id = any(%s)", [finals])
    assert rows == [("SUCCESS",), ("SUCCESS",)]

    orphans = pg_db.query("select count(*) from runs where status = 'NOT_STARTED'")[0][0]

    def how(run_id: str, final: dict[str, Any]) -> str:
        return "same run" if final["runId"] == run_id else f"retry {final['runId']}"

    end_a = steps_a.get("STEP_SUCCESS", steps_a.get("STEP_FAILURE", float("nan")))
    print(
        f"\nA: restart command {restart_ended - restart_began:.2f}s, new server up "
        f"{booted_a.timestamp() - restart_began:.2f}s after it was given, the retraining step from "
        f"{steps_a['STEP_START'] - restart_began:+.2f}s to {end_a - restart_began:+.2f}s; "
        f"deployed by the {how(run_a, final_a)}.\n"
        f"B: server back {booted_b.timestamp() - stopped_at:.2f}s after the stop completed, "
        f"the run worker hit the outage; deployed by the {how(run_b, final_b)}.\n"
        f"Launches refused by the webserver after the restart: {len(failed_launches)} "
        f"{[e[:90] for e in failed_launches]}; runs left NOT_STARTED by them: {orphans}.\n"
        f"{PG_RETRY_LINE!r} lines: "
        f"{ {s: topo.log_text(s).count(PG_RETRY_LINE) for s in ph.DAGSTER_SERVICES} }; "
        f"timings: {timings}"
    )


# ---------------------------------------------------------------------------------------------
# 2. The daemon killed: runs wait in the queue, then drain in order; missed schedule ticks
# ---------------------------------------------------------------------------------------------

QUEUED_DAYS = ("2026-03-03", "2026-03-04", "2026-03-05")
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
            state = ph.wait_until(
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
        # The queue lives in the daemon: while it is down the submitted runs stay QUEUED (no
        # fixed wait to prove a negative; their order once it is back is what this test checks).
        queued = {r["runId"]: r["status"] for r in topo.runs(run_ids=run_ids)}
        assert queued == dict.fromkeys(run_ids, "QUEUED"), queued

        daemon_back = time.time()
        topo.start_service("daemon")
        timings["daemon_restarted"] = time.monotonic() - t0

        # The scheduler evaluates the missed ticks on its first iteration.
        with topo.instance() as instance, topo.failing_with_logs():
            ticks = ph.wait_until(
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
        # Cancel the schedule's runs while they wait behind ours: their day depends on today's
        # date (and its gate verdict with it), and they would move the live model past ours.
        for run in scheduled:
            ph.client(topo.url).terminate_run(run["runId"])  # raises unless terminated

        done = topo.wait_runs(run_ids, RUN_TIMEOUT)
        timings["queue_drained"] = time.monotonic() - t0
        cancelled = topo.runs(run_ids=[r["runId"] for r in scheduled])

    assert {r["status"] for r in cancelled} <= {"CANCELED"}, cancelled

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

    # Missed schedule ticks. Ten daily ticks were missed. Dagster 1.13 evaluates only the latest
    # missed tick of a schedule on a partitioned asset job, so retrain_schedule catches up
    # itself: that one tick requests every day of the last CATCHUP_DAYS it never ran.
    hour = int(cron.split()[1])
    missed = sorted(
        tick
        for back in range(OUTAGE.days + 1)
        if now - OUTAGE
        < (
            tick := (now - dt.timedelta(days=back)).replace(
                hour=hour, minute=0, second=0, microsecond=0
            )
        )
        <= now
    )
    assert len(missed) == OUTAGE.days
    latest_day = dt.date.fromisoformat(previous_day(missed[-1]))
    expected = [
        (latest_day - dt.timedelta(days=k)).isoformat() for k in range(CATCHUP_DAYS - 1, -1, -1)
    ]
    tick_days = sorted(previous_day(dt.datetime.fromtimestamp(t.timestamp, dt.UTC)) for t in ticks)
    run_days = sorted(r["tags"][ph.PARTITION_TAG] for r in scheduled)
    assert tick_days == [latest_day.isoformat()], tick_days
    assert run_days == expected, f"catch-up ran {run_days}, expected the last week {expected}"
    starts = [round(r["startTime"] - daemon_back, 1) for r in ordered]
    print(
        f"\ndaemon down {daemon_back - killed_at:.1f}s; runs of {QUEUED_DAYS} started {starts}s "
        f"after it came back; schedule launched {run_days} for {len(missed)} missed ticks; "
        f"timings: {timings}"
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
    # The retraining steps (pool retrain, one run at a time) never overlapped either.
    deploys = [step_events(pg_db, r, "retraining") for r in (newer_id, older_id)]
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
        f"\nnewer {NEWER_DAY} took {newer['endTime'] - newer['startTime']:.1f}s, "
        f"older {OLDER_DAY} started "
        f"{older['startTime'] - newer['endTime']:.1f}s after it ended and took "
        f"{older['endTime'] - older['startTime']:.1f}s; topology up {up:.1f}s, total {elapsed:.1f}s"
    )
