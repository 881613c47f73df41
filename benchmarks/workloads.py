"""The four benchmark workloads. Each returns a JSON-safe dict for results.json.

Pipeline and bare always read the same landing files in the same benchmark run; every
pipeline result is checked against bare (same per-day accuracy), so the two did the same ML.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.data import TARGET, day_frame, days_from, frame_mb, land, write_days
from benchmarks.measure import Measured, TreeSampler, load_average, run_measured
from retrain_assets.artifacts import ArtifactStore
from retrain_assets.data.landing import LandingDirSource
from retrain_assets.ml.fit import DEFAULT_ESTIMATOR, DEFAULT_PARAMS
from retrain_assets_tests import support as ph

REPO = Path(__file__).resolve().parents[1]
START_DATE = "2026-01-01"  # RETRAIN_START_DATE of single_run and scale (fixed days, past)
LOCATION = "retrain_assets"
ASSETS = list(ph.RETRAIN_ASSETS)
# Every measured process runs single-threaded: on two cores shared with other work, OpenMP
# (HistGradientBoosting) swung identical runs between 30 s and 180 s. Same for both sides.
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
BARE_INCLUDES = (
    "python start-up and imports; per day: read the window's Parquet files, concat, hold out "
    "the newest 20 %, fit (training.build_pipeline, same params/seeds), predict + the same "
    "metrics on the holdout, skops dump to a file"
)


@dataclass(frozen=True)
class OneDaySize:
    """A single retrain cycle: `window` days of `rows_per_day` rows, the last day is trained."""

    window: int
    rows_per_day: int
    features: int
    estimator: str = DEFAULT_ESTIMATOR
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackfillSize:
    days: int
    rows_per_day: int
    features: int
    window: int


@dataclass(frozen=True)
class SensorSize:
    landings: int
    rows_per_day: int
    features: int
    interval_s: int | None  # None: the default (RETRAIN_SENSOR_INTERVAL_SECONDS unset, 30 s)


def _ratio(pipeline_s: float, bare_s: float) -> float:
    return round(pipeline_s / bare_s, 3) if bare_s > 0 else float("nan")


def retrain_env(
    root: Path, landing: Path, window: int, start_date: str, **extra: str
) -> dict[str, str]:
    """A clean environment (no developer RETRAIN_*/DAGSTER_*) on a persistent SQLite instance."""
    home = root / "dagster_home"  # `dagster job execute` (single_run) needs it made
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dev" / "dagster.yaml", home / "dagster.yaml")
    return ph.dagster_env(
        DAGSTER_HOME=str(home),
        RETRAIN_DATA_DIR=str(landing),
        RETRAIN_STORAGE_DIR=str(root / "storage"),
        RETRAIN_REGISTRY_DIR=str(root / "registry"),
        RETRAIN_START_DATE=start_date,
        RETRAIN_WINDOW_DAYS=str(window),
        # Never fires during a benchmark: a scheduled run would compete for the two cores.
        RETRAIN_SCHEDULE_CRON="0 0 1 1 *",
        PYTHONWARNINGS="ignore",
        **THREADS,
        **extra,
    )


def run_bare(
    landing: Path,
    root: Path,
    days: list[str],
    start_date: str,
    window: int,
    estimator: str,
    params: dict[str, Any],
) -> tuple[Measured, dict[str, float]]:
    """Run the bare script; returns its measurement and each day's holdout accuracy."""
    root.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "benchmarks.bare",
        "--data-dir", str(landing), "--out-dir", str(root / "bare_models"),
        "--start-date", start_date, "--window", str(window),
        "--estimator", estimator, "--params", json.dumps(params),
        "--result", str(root / "bare.json"), "--days", *days,
    ]  # fmt: skip
    log = root / "logs" / "bare.log"
    measured = run_measured(command, ph.dagster_env(PYTHONWARNINGS="ignore", **THREADS), log, REPO)
    if measured.returncode != 0:
        raise RuntimeError(f"bare script failed; see {log}")
    result = json.loads((root / "bare.json").read_text())
    return measured, {d["day"]: d["accuracy"] for d in result["days"]}


def pipeline_accuracies(root: Path, days: list[str]) -> dict[str, float]:
    accuracies = {}
    for day in days:
        path = root / "storage" / "landing" / "evaluation_metrics" / f"{day}.json"
        if path.exists():
            accuracies[day] = json.loads(path.read_text())["metrics"]["accuracy"]
    return accuracies


def check_same_ml(pipeline: dict[str, float], bare: dict[str, float]) -> None:
    """Same data, split, estimator and seeds give the same holdout accuracy, day by day."""
    if pipeline != bare:
        differ = {d: (pipeline.get(d), bare.get(d)) for d in bare if pipeline.get(d) != bare[d]}
        raise RuntimeError(f"pipeline and bare disagree (pipeline, bare): {differ}")


@functools.cache
def import_baseline_mb(root: Path, module: str) -> float:
    """Peak RSS of a process that only imports `module`: interpreter + libraries, no data."""
    measured = run_measured(
        [sys.executable, "-c", f"import {module}"],
        ph.dagster_env(PYTHONWARNINGS="ignore"),
        root / "logs" / f"baseline_{module}.log",
        REPO,
    )
    return measured.peak_rss_mb


def _samples(measured: list[Measured]) -> list[dict[str, float]]:
    return [
        {"wall_s": round(m.wall_s, 2), "cpu_s": round(m.cpu_s, 2), "rss_mb": round(m.peak_rss_mb)}
        for m in measured
    ]


# --------------------------------------------------------------------------------------------
# single_run and scale: one retrain cycle through `dagster job execute`
# --------------------------------------------------------------------------------------------


def one_day(name: str, size: OneDaySize, root: Path, repeats: int = 1) -> dict[str, Any]:
    """`dagster job execute -j retrain_job` for the window's last day, in a fresh process.

    That is what a run worker does (load the code location, create the run in the persistent
    SQLite instance, execute in process). The window's earlier days are ingested beforehand, as
    the runs of the previous days would have left them (steady state); the registry is empty,
    so there is no champion to compare and the ML work equals bare's. With repeats, bare and
    pipeline alternate, each pipeline run on a fresh instance, and the fastest of each counts:
    on a shared machine noise only ever adds time.
    """
    landing = root / "landing"
    days = days_from(START_DATE, size.window)
    rows = write_days(landing, days, START_DATE, size.rows_per_day, size.features)
    source = LandingDirSource(landing, TARGET, min_rows=10)
    ingested = [source.load(day)[0] for day in days[:-1]]
    params = {**DEFAULT_PARAMS[size.estimator], **size.params}
    load_before = load_average()

    bares: list[Measured] = []
    pipelines: list[Measured] = []
    for attempt in range(repeats):
        rep = root / f"run{attempt}"
        bare, bare_acc = run_bare(
            landing, rep, days[-1:], START_DATE, size.window, size.estimator, size.params
        )
        bares.append(bare)

        env = retrain_env(rep, landing, size.window, START_DATE)
        store = ArtifactStore.for_source(rep / "storage", landing)
        for day, frame in zip(days[:-1], ingested, strict=True):
            store.write_raw(day, frame)
        command = [
            ph.bin_path("dagster"), "job", "execute", "-m", "retrain_assets.definitions",
            "-j", "retrain_job", "--tags", json.dumps({"dagster/partition": days[-1]}),
        ]  # fmt: skip
        if size.estimator != DEFAULT_ESTIMATOR or size.params:
            config = rep / "run_config.yaml"  # JSON is YAML
            trained = {"estimator": size.estimator, "hyperparameters": size.params}
            config.write_text(json.dumps({"ops": {"retraining": {"config": trained}}}))
            command += ["-c", str(config)]
        log = rep / "logs" / "pipeline.log"
        pipeline = run_measured(command, env, log, REPO)
        if pipeline.returncode != 0:
            raise RuntimeError(f"{name}: the run failed; see {log}")
        pipelines.append(pipeline)
        check_same_ml(pipeline_accuracies(rep, days[-1:]), bare_acc)
        live = json.loads((rep / "registry" / "classifier" / "current.json").read_text())
        if live["partition"] != days[-1]:
            raise RuntimeError(f"{name}: {days[-1]} was not deployed: {live}")

    best_pipeline = min(pipelines, key=lambda m: m.wall_s)
    best_bare = min(bares, key=lambda m: m.wall_s)
    pipeline_cpu = min(m.cpu_s for m in pipelines)
    bare_cpu = min(m.cpu_s for m in bares)
    return {
        "pipeline_s": round(best_pipeline.wall_s, 2),
        "bare_s": round(best_bare.wall_s, 2),
        "ratio": _ratio(best_pipeline.wall_s, best_bare.wall_s),
        "peak_rss_mb": round(max(m.peak_rss_mb for m in pipelines), 1),
        "bare_peak_rss_mb": round(max(m.peak_rss_mb for m in bares), 1),
        "pipeline_cpu_s": round(pipeline_cpu, 2),
        "bare_cpu_s": round(bare_cpu, 2),
        "repeats": repeats,
        "pipeline_samples": _samples(pipelines),
        "bare_samples": _samples(bares),
        "import_baseline_rss_mb": {
            "pipeline": round(import_baseline_mb(root.parent, "retrain_assets.definitions"), 1),
            "bare": round(import_baseline_mb(root.parent, "benchmarks.bare"), 1),
        },
        "window_data_mb": round(frame_mb(rows, size.features), 1),
        "rows": rows,
        "days": size.window,
        "features": size.features,
        "estimator": size.estimator,
        "params": params,
        "accuracy": bare_acc[days[-1]],
        "same_accuracy_as_bare": True,
        "pipeline": f"dagster job execute -j retrain_job, partition {days[-1]}, persistent "
        "SQLite DAGSTER_HOME, in-process executor; earlier window days pre-ingested",
        "bare": BARE_INCLUDES,
        "load_average": {"before": load_before, "after": load_average()},
    }


# --------------------------------------------------------------------------------------------
# backfill and sensor_latency: a real `dagster dev` (webserver + daemon + code server)
# --------------------------------------------------------------------------------------------

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@dataclass
class DevService:
    url: str
    root: Path
    location: str
    procs: ph.Processes
    sampler: TreeSampler
    sensor_interval_s: int = 30

    def runs_tagged(self, key: str, value: str) -> list[dict[str, Any]]:
        return ph.runs(self.url, tags={key: value})

    def stop_sensor(self) -> None:
        ph.stop_sensor(self.url, "new_data_sensor", self.location)

    def wait_until(self, what: str, probe: Callable[[], Any], timeout: float) -> Any:
        """Poll `probe` until it returns something other than None; fail fast if dev died."""
        return ph.wait_until(what, probe, timeout, self.procs.check_alive)


@contextmanager
def dev_service(
    root: Path, window: int, start_date: str, module: str | None = None, **extra: str
) -> Iterator[DevService]:
    """`dagster dev` on a fresh SQLite DAGSTER_HOME with dev/dagster.yaml (run queue limits)."""
    env = retrain_env(root, root / "landing", window, start_date, **extra)
    with ph.dagster_dev(root / "logs", env, module=module) as dev:
        # dagster dev's tree: webserver, daemon, code server and the run workers it launches.
        sampler = TreeSampler(root=dev.pid)
        sampler.start()
        try:
            interval = int(extra.get("RETRAIN_SENSOR_INTERVAL_SECONDS", 30))
            yield DevService(dev.url, root, dev.location, dev.procs, sampler, interval)
        finally:
            sampler.stop()


def sensor_latency(
    service: DevService, size: SensorSize, days: list[str], first: str
) -> dict[str, Any]:
    """Land one file at a time (real mtime, random phase against the sensor's ticks) and time
    landing -> run start (the run's RUN_START, from the instance). Each run finishes before
    the next landing, so no latency includes waiting behind another retrain run."""
    interval = size.interval_s or 30
    phase = random.Random(0)  # deterministic, but spread over the tick interval
    samples = []
    for day in days:
        time.sleep(phase.uniform(0, interval))
        frame = day_frame(day, first, size.rows_per_day, size.features)
        land(service.root / "landing", day, frame)
        landed = time.time()

        def started(day: str = day) -> dict[str, Any] | None:
            runs = service.runs_tagged("dagster/partition", day)
            return runs[0] if runs and runs[0]["startTime"] else None

        run = service.wait_until(f"a run for {day}", started, interval * 3 + 120)

        def finished(run_id: str = run["runId"]) -> str | None:
            status = ph.run_status(service.url, run_id)
            return status if status in ph.TERMINAL_RUN_STATUSES else None

        status = service.wait_until(f"run {run['runId']}", finished, 600)
        samples.append(
            {
                "day": day,
                "landing_to_run_start_s": round(run["startTime"] - landed, 2),
                "landing_to_run_requested_s": round(run["creationTime"] - landed, 2),
                "run_status": status,
            }
        )
    latencies = [s["landing_to_run_start_s"] for s in samples]
    return {
        "pipeline_s": round(sum(latencies) / len(latencies), 2),
        "bare_s": None,
        "ratio": None,
        "peak_rss_mb": None,
        "latency_mean_s": round(sum(latencies) / len(latencies), 2),
        "latency_max_s": max(latencies),
        "samples": samples,
        "sensor_interval_s": interval,
        "interval_source": "default (RETRAIN_SENSOR_INTERVAL_SECONDS unset)"
        if size.interval_s is None
        else f"RETRAIN_SENSOR_INTERVAL_SECONDS={size.interval_s} (shortened for the quick size)",
        "rows": size.rows_per_day,
        "days": len(days),
        "features": size.features,
        "estimator": DEFAULT_ESTIMATOR,
        "pipeline": "dagster dev; a file renamed into RETRAIN_DATA_DIR -> new_data_sensor tick "
        "-> queued run -> daemon launches it; pipeline_s = mean seconds to the run's start",
        "bare": "none: latency has no bare equivalent",
    }


def ui_backfill(
    service: DevService, size: BackfillSize, days: list[str], first: str
) -> dict[str, Any]:
    """An asset backfill of the four assets over `days`, launched as the UI does
    (launchPartitionBackfill with assetSelection + partitionNames, so Dagster's implicit asset
    job); the daemon batches partitions into runs by the op's BackfillPolicy."""
    service.stop_sensor()  # it would request runs for the landed files itself
    rows = write_days(service.root / "landing", days, first, size.rows_per_day, size.features)
    load_before = load_average()
    bare, bare_acc = run_bare(
        service.root / "landing", service.root, days, first, size.window, DEFAULT_ESTIMATOR, {}
    )

    service.sampler.sample()  # the processes running now are not the workload's
    before = set(service.sampler.seen)
    launched = time.time()
    backfill_id = ph.launch_asset_backfill(service.url, ASSETS, days, "benchmark backfill")

    evaluations = service.root / "storage" / "landing" / "evaluation_metrics"

    def done() -> list[dict[str, Any]] | None:
        # The backfill's own status trails by a daemon cycle (30 s), and COMPLETED only means
        # every run was submitted. Done = every run finished and every day was evaluated:
        # evaluation and deploy of a day always share a run (raw_dataset may run earlier).
        runs = service.runs_tagged("dagster/backfill", backfill_id)
        if not runs or any(r["status"] not in ph.TERMINAL_RUN_STATUSES for r in runs):
            return None
        if any(r["status"] != "SUCCESS" for r in runs):
            return runs  # reported below; a gate block fails no run of a batch, only its day
        return runs if all((evaluations / f"{d}.json").exists() for d in days) else None

    runs = service.wait_until(f"backfill {backfill_id}", done, 4 * 3600)
    status = ph.backfill(service.url, backfill_id)["status"]
    ended = max(r["endTime"] for r in runs)
    failed = [r for r in runs if r["status"] != "SUCCESS"]
    if failed:
        messages = {r["runId"]: ph.run_error_messages(service.url, r["runId"]) for r in failed}
        raise RuntimeError(f"backfill runs failed: {json.dumps(messages)[:3000]}")
    check_same_ml(pipeline_accuracies(service.root, days), bare_acc)
    service.sampler.sample()
    # Every process dagster dev started since the launch: run workers and, with the
    # multiprocess executor, one process per step (minus Dagster's tiny orphan watchers).
    workers = [w for w in service.sampler.matching("", exclude=before) if "orphans" not in w.cmd]
    return {
        **_against_bare(ended - launched, workers, bare, len(days)),
        "runs": len(runs),
        "worker_processes": len(workers),
        "run_batches": sorted(
            (
                {
                    "start": r["tags"].get(RANGE_START, r["tags"].get("dagster/partition")),
                    "end": r["tags"].get(RANGE_END, r["tags"].get("dagster/partition")),
                    "job": r["jobName"],
                    "queued_at_s": round(r["creationTime"] - launched, 1),
                    "started_at_s": round(r["startTime"] - launched, 1),
                    "run_s": round(r["endTime"] - r["startTime"], 1),
                }
                for r in runs
            ),
            key=lambda b: b["queued_at_s"],
        ),
        "backfill_status_when_runs_done": status,  # the daemon marks it done a cycle later
        **_batch_size(size, rows, days),
        "pipeline": "dagster dev; GraphQL launchPartitionBackfill(assetSelection = the four "
        "assets, partitionNames = the days); pipeline_s = launch -> last run's end",
        "bare": BARE_INCLUDES + "; one process for all days",
        "load_average": {"before": load_before, "after": load_average()},
    }


def _batch_size(size: BackfillSize, rows: int, days: list[str]) -> dict[str, Any]:
    """What a batched workload ran: the same ML as the bare script, on these many days."""
    return {
        "rows": rows,
        "rows_per_day": size.rows_per_day,
        "days": len(days),
        "window_days": size.window,
        "features": size.features,
        "estimator": DEFAULT_ESTIMATOR,
        "params": DEFAULT_PARAMS[DEFAULT_ESTIMATOR],
        "same_accuracy_as_bare": True,
    }


def _against_bare(
    pipeline_s: float, workers: list[Any], bare: Measured, days: int
) -> dict[str, Any]:
    """Wall time, memory and CPU of the pipeline's run workers against the bare script."""
    pipeline_cpu = sum(w.cpu_s for w in workers)
    return {
        "pipeline_s": round(pipeline_s, 2),
        "bare_s": round(bare.wall_s, 2),
        "ratio": _ratio(pipeline_s, bare.wall_s),
        "peak_rss_mb": round(max((w.peak_rss_mb for w in workers), default=0.0), 1),
        "bare_peak_rss_mb": round(bare.peak_rss_mb, 1),
        "pipeline_cpu_s": round(pipeline_cpu, 1),
        "bare_cpu_s": round(bare.cpu_s, 1),
        "overhead_cpu_s_per_day": round((pipeline_cpu - bare.cpu_s) / days, 3),
    }


def history_upload(
    service: DevService, size: BackfillSize, days: list[str], first: str
) -> dict[str, Any]:
    """A history dropped into RETRAIN_DATA_DIR at once: new_data_sensor waits for the upload to
    settle, requests range runs, the daemon runs them; pipeline_s = landing -> the newest day
    live (every run finished)."""
    before_runs = {r["runId"] for r in service.runs_tagged("retrain_assets/lane", "retrain")}
    service.sampler.sample()  # the processes running now are not the workload's
    before = set(service.sampler.seen)
    load_before = load_average()
    landed = time.time()
    rows = write_days(service.root / "landing", days, first, size.rows_per_day, size.features)
    current = service.root / "registry" / "classifier" / "current.json"

    def newest_live() -> list[dict[str, Any]] | None:
        runs = [
            r
            for r in service.runs_tagged("retrain_assets/lane", "retrain")
            if r["runId"] not in before_runs
        ]
        if not runs or any(r["status"] not in ph.TERMINAL_RUN_STATUSES for r in runs):
            return None
        live = json.loads(current.read_text()) if current.exists() else {}
        return runs if live.get("partition") == days[-1] else None

    runs = service.wait_until("the history's newest day live", newest_live, 4 * 3600)
    ended = max(r["endTime"] for r in runs)
    failed = [r for r in runs if r["status"] != "SUCCESS"]
    if failed:
        messages = {r["runId"]: ph.run_error_messages(service.url, r["runId"]) for r in failed}
        raise RuntimeError(f"history upload runs failed: {json.dumps(messages)[:3000]}")
    service.sampler.sample()
    workers = [w for w in service.sampler.matching("", exclude=before) if "orphans" not in w.cmd]
    bare, bare_acc = run_bare(
        service.root / "landing", service.root / "bare_history", days, first, size.window,
        DEFAULT_ESTIMATOR, {},
    )  # fmt: skip
    check_same_ml(pipeline_accuracies(service.root, days), bare_acc)
    return {
        **_against_bare(ended - landed, workers, bare, len(days)),
        "runs": len(runs),
        "run_ranges": sorted(
            (
                r["tags"].get(RANGE_START, r["tags"].get("dagster/partition")),
                r["tags"].get(RANGE_END, r["tags"].get("dagster/partition")),
            )
            for r in runs
        ),  # fmt: skip
        **_batch_size(size, rows, days),
        "sensor_interval_s": service.sensor_interval_s,
        "pipeline": "dagster dev; every file landed at once -> new_data_sensor (two ticks to "
        "settle) -> range runs -> daemon; pipeline_s = landing -> last run's end, newest day live",
        "bare": BARE_INCLUDES + "; one process for all days",
        "load_average": {"before": load_before, "after": load_average()},
    }


def dev_workloads(
    root: Path,
    sensor: SensorSize | None,
    history: BackfillSize | None,
    fill: BackfillSize | None,
    module: str | None = None,
    sensor_interval_s: int | None = None,
) -> dict[str, dict[str, Any]]:
    """sensor_latency first (an idle instance), then a history upload of the days after its
    days, then a UI backfill of the days after those. All share one `dagster dev` (starting it
    takes tens of seconds on two cores); the last days end today, the last partition.
    """
    root.mkdir(parents=True)
    today = dt.datetime.now(dt.UTC).date()
    counts = [sensor.landings if sensor else 0, history.days if history else 0,
              fill.days if fill else 0]  # fmt: skip
    first = (today - dt.timedelta(days=sum(counts) - 1)).isoformat()
    all_days = days_from(first, sum(counts))
    sensor_days = all_days[: counts[0]]
    history_days = all_days[counts[0] : counts[0] + counts[1]]
    fill_days = all_days[counts[0] + counts[1] :]
    extra = {}
    if sensor_interval_s is not None:
        extra["RETRAIN_SENSOR_INTERVAL_SECONDS"] = str(sensor_interval_s)
    out: dict[str, dict[str, Any]] = {}
    window = (fill or history).window if (fill or history) else 14
    started = time.perf_counter()
    with dev_service(root, window, first, module, **extra) as service:
        print(f"  dagster dev up in {time.perf_counter() - started:.0f}s", flush=True)
        if sensor:
            out["sensor_latency"] = sensor_latency(service, sensor, sensor_days, first)
            print(f"  sensor_latency done at {time.perf_counter() - started:.0f}s", flush=True)
        if history:
            out["history_upload"] = history_upload(service, history, history_days, first)
            print(f"  history_upload done at {time.perf_counter() - started:.0f}s", flush=True)
        if fill:
            out["ui_backfill"] = ui_backfill(service, fill, fill_days, first)
            print(f"  ui_backfill done at {time.perf_counter() - started:.0f}s", flush=True)
    print(f"  dagster dev stopped at {time.perf_counter() - started:.0f}s", flush=True)
    return out
