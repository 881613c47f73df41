"""The production deployment: configuration consistency, and the topology run as real processes.

There is no Docker engine on the development/CI machines, so the compose topology is proven in
two halves: static tests check that docker-compose.yml, dagster.yaml, workspace.yaml, .env.example
and the Dockerfile agree with each other, and the e2e test runs the very commands, environment and
health checks of the compose services as plain processes against a real PostgreSQL.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrain_assets.defs.automation.jobs import DAILY_RUN_TAGS
from retrain_assets.defs.partitions import MAX_DAYS_PER_RUN
from retrain_assets_tests import support as ph
from retrain_assets_tests.support import (
    interpolate,
    local_env,
    localise,
    read_env_file,
    service_command,
    service_env,
)

ROOT = ph.REPO_ROOT
CONTAINER_HOME = ph.CONTAINER_HOME
DAGSTER_SERVICES = ph.DAGSTER_SERVICES
PG_VARS = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)
# Fixed by DESIGN.md: every one must be settable by an operator through .env.
APP_VARS = {
    "RETRAIN_DATA_DIR",
    "RETRAIN_REGISTRY_DIR",
    "RETRAIN_STORAGE_DIR",
    "RETRAIN_TARGET_COLUMN",
    "RETRAIN_START_DATE",
    "RETRAIN_WINDOW_DAYS",
    "RETRAIN_ACCURACY_THRESHOLD",
    "RETRAIN_MAX_REGRESSION",
    "RETRAIN_MODEL_NAME",
    "RETRAIN_SCHEDULE_CRON",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_CHAT_ID",
    "TELEGRAM_API_URL",
    "DAGSTER_WEBSERVER_URL",
}
LANE_TAG = ("retrain_assets/lane", "retrain")
# The only variable compose insists on (`${DAGSTER_PG_PASSWORD:?...}`); all others have defaults.
MINIMAL_ENV = {"DAGSTER_PG_PASSWORD": "s3cret"}


# ---------------------------------------------------------------------------------------------
# Reading the files the way docker compose does
# ---------------------------------------------------------------------------------------------

# Shared with the other e2e modules; they live in retrain_assets_tests.support.
_INTERPOLATION = ph.COMPOSE_INTERPOLATION
_ANY_VAR = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return ph.load_compose()


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ROOT / ".env.example")


def option(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv[:-1]):
        if arg in names:
            return argv[i + 1]
    raise AssertionError(f"none of {names} in {argv}")


def mounts(compose: Mapping[str, Any], service: str) -> dict[str, str]:
    """Container path -> named volume, for one service."""
    result = {}
    for spec in compose["services"][service].get("volumes") or []:
        source, target = str(spec).split(":")[:2]
        result[target] = source
    return result


def covered_by_mount(path: str, service_mounts: Mapping[str, str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in service_mounts)


# ---------------------------------------------------------------------------------------------
# Static consistency
# ---------------------------------------------------------------------------------------------


def test_workspace_points_at_the_code_server_service(
    compose: dict[str, Any], env_example: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.workspace.config_schema import ensure_workspace_config

    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    grpc = entry["grpc_server"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    location = pyproject["tool"]["dagster"]["code_location_name"]

    # Dagster itself accepts {env: VAR} for host and port and resolves them.
    monkeypatch.setenv(grpc["host"]["env"], "code_server")
    monkeypatch.setenv(grpc["port"]["env"], "4000")
    resolved = ensure_workspace_config(workspace, str(ROOT / "workspace.yaml"))
    assert resolved["load_from"][0]["grpc_server"]["port"] == 4000

    code_cmd = service_command(compose, "code_server", env_example)
    for service in ("webserver", "daemon"):
        # With .env copied from the example, and with a .env that sets only the required password.
        for documented in (env_example, MINIMAL_ENV):
            env = service_env(compose, service, documented)
            host, port = env[grpc["host"]["env"]], env[grpc["port"]["env"]]
            assert host == "code_server" and host in compose["services"], (service, host)
            assert port == option(service_command(compose, "code_server", documented), "-p")
            assert int(port) > 0
    assert grpc["location_name"] == location == option(code_cmd, "--location-name")
    assert option(code_cmd, "-m") == pyproject["tool"]["dagster"]["module_name"]
    # The code server's health check probes the port it listens on.
    health = compose["services"]["code_server"]["healthcheck"]["test"]
    health_argv = [interpolate(str(a), env_example) for a in health]
    assert option(health_argv, "-p") == option(code_cmd, "-p")
    for service in ("webserver", "daemon"):
        argv = service_command(compose, service, env_example)
        assert option(argv, "-w") == f"{CONTAINER_HOME}/workspace.yaml"


def yaml_strings(node: Any) -> Iterator[str]:
    """Every scalar in the parsed file: what compose interpolates (comments are not)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from yaml_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from yaml_strings(value)
    elif node is not None:
        yield str(node)


def test_every_setting_is_documented_with_its_default_everywhere(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    # Every variable the service reads is in the README's table, in .env.example and handed to
    # the code server by compose; each with the default the code uses.
    source = (ROOT / "retrain_assets" / "settings.py").read_text()
    paths = ("RETRAIN_DATA_DIR", "RETRAIN_REGISTRY_DIR", "RETRAIN_STORAGE_DIR")
    read = {
        name: default
        for name, default in re.findall(r'"(RETRAIN_\w+)", "([^"]*)"', source)
        if name not in paths
    }
    assert "RETRAIN_MIN_HOLDOUT_ROWS" in read and "RETRAIN_REFIT" in read
    readme = (ROOT / "README.md").read_text()
    code_env = compose["services"]["code_server"]["environment"]
    for name, default in read.items():
        row = re.search(rf"^\| `{name}` \| `?([^`|]*)`? \|", readme, re.M)
        assert row, f"{name} is not in the README's settings table"
        assert row.group(1).strip() == default, f"README: {name} default {row.group(1)!r}"
        assert env_example.get(name) == default, f".env.example: {name}"
        assert name in code_env, f"compose: {name} is not passed to the code server"
    for name in paths:  # defaults that depend on DAGSTER_HOME, or none: named in the table
        assert f"| `{name}` |" in readme and name in code_env


def test_every_compose_variable_is_documented_in_env_example(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    compose_text = "\n".join(yaml_strings(compose))
    used = {a or b for a, b in _ANY_VAR.findall(compose_text)}
    assert used, "expected ${VAR} settings in docker-compose.yml"
    assert not used - env_example.keys(), f"missing from .env.example: {used - env_example.keys()}"
    assert not env_example.keys() - used, f"unused in compose: {env_example.keys() - used}"
    # No secret ships in the example; and every inline compose default equals the documented one,
    # so `cp .env.example .env` changes nothing but what the operator edits.
    assert env_example["TELEGRAM_BOT_TOKEN"] == ""
    # The database password has no default on purpose: compose refuses to start without one.
    with pytest.raises(KeyError, match="DAGSTER_PG_PASSWORD"):
        service_env(compose, "postgres", {})
    for match in _INTERPOLATION.finditer(compose_text):
        name, _colon, op, arg = match.groups()
        if op == "-":
            assert env_example[name] == arg, f"{name}: {env_example[name]!r} != default {arg!r}"


def test_dagster_services_share_postgres_home_and_config(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    services = compose["services"]
    pg = service_env(compose, "postgres", env_example)
    envs = {name: service_env(compose, name, env_example) for name in DAGSTER_SERVICES}
    for name, env in envs.items():
        assert all(var in env for var in PG_VARS), f"{name} lacks {set(PG_VARS) - env.keys()}"
        assert env["DAGSTER_PG_HOST"] == "postgres" and "postgres" in services
        assert env["DAGSTER_PG_USER"] == pg["POSTGRES_USER"]
        assert env["DAGSTER_PG_PASSWORD"] == pg["POSTGRES_PASSWORD"]
        assert env["DAGSTER_PG_DB"] == pg["POSTGRES_DB"]
        assert env["DAGSTER_HOME"] == CONTAINER_HOME
        # One dagster.yaml for all: same image, same target, so the same baked-in file.
        assert services[name]["image"] == services["code_server"]["image"]
        assert services[name]["build"]["target"] == "prod"
        assert services[name]["restart"] in {"unless-stopped", "always"}
        assert services[name]["healthcheck"]["test"]
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code_server"]["condition"] == "service_healthy"
    for name in ("webserver", "daemon"):  # what they share with the code server is identical
        assert envs[name] == {k: v for k, v in envs["code_server"].items() if k in envs[name]}
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert services["postgres"]["image"] == "postgres:17"
    # Runs execute inside the code server (DefaultRunLauncher): it needs every app setting, while
    # the Telegram token stays out of the webserver and daemon.
    code_env = envs["code_server"]
    read_by_code = set()
    for path in (ROOT / "retrain_assets").rglob("*.py"):
        read_by_code |= set(
            re.findall(
                r"[\"']((?:RETRAIN|TELEGRAM)_[A-Z0-9_]+|DAGSTER_WEBSERVER_URL)[\"']",
                path.read_text(),
            )
        )
    missing = (APP_VARS | read_by_code) - code_env.keys()
    assert not missing, f"settings not passed to code_server: {sorted(missing)}"
    for name in ("webserver", "daemon"):
        assert "TELEGRAM_BOT_TOKEN" not in envs[name]


def test_volumes_cover_postgres_registry_landing_and_dagster_home(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    declared = set(compose["volumes"])
    for service in compose["services"]:
        for target, source in mounts(compose, service).items():
            assert source in declared, f"{service}: {source} is not a named volume"
            assert target.startswith("/")
    assert "/var/lib/postgresql/data" in mounts(compose, "postgres")  # postgres:17 data dir

    code = mounts(compose, "code_server")
    code_env = service_env(compose, "code_server", env_example)
    for var in ("RETRAIN_REGISTRY_DIR", "RETRAIN_STORAGE_DIR"):
        assert covered_by_mount(code_env[var], code), f"{var}={code_env[var]} is not on a volume"
    # The landing volume is where the documented RETRAIN_DATA_DIR value points.
    landing = next(t for t, s in code.items() if s == "landing")
    assert landing in (ROOT / ".env.example").read_text()
    # DAGSTER_HOME's mutable part (compute logs, IO-manager files) is shared: the code server's
    # run workers write step logs that the webserver shows.
    storage = f"{CONTAINER_HOME}/storage"
    for service in DAGSTER_SERVICES:
        assert mounts(compose, service).get(storage) == "dagster_storage", service
    # Volumes sit below DAGSTER_HOME, never on it: a volume would freeze the image's dagster.yaml.
    for service in DAGSTER_SERVICES:
        assert CONTAINER_HOME not in mounts(compose, service)


def test_published_ports_bind_to_loopback_by_default(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    published = []
    for name, service in compose["services"].items():
        for spec in service.get("ports") or []:
            assert isinstance(spec, str), f"{name}: use the short 'ip:host:container' form"
            for documented in (env_example, MINIMAL_ENV):
                ip, host_port, container_port = interpolate(spec, documented).split(":")
                assert ip == "127.0.0.1", f"{name} publishes {spec} on {ip!r} by default"
                published.append((name, host_port, container_port))
    assert ("webserver", "3000", "3000") in published
    assert not compose["services"]["postgres"].get("ports")
    assert not compose["services"]["code_server"].get("ports")
    webserver = service_command(compose, "webserver", env_example)
    assert option(webserver, "-p") == "3000" and option(webserver, "-h") == "0.0.0.0"


def _instance_settings(tmp_path: Path, config: Path) -> dict[str, Any]:
    from dagster._core.instance.config import dagster_instance_config

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(config, home / "dagster.yaml")
    value, custom_class = dagster_instance_config(str(home))
    assert custom_class is None
    return dict(value)


def test_dagster_yaml_is_a_valid_production_instance_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in PG_VARS:
        monkeypatch.setenv(var, "5432" if var.endswith("PORT") else "x")
    config = _instance_settings(tmp_path, ROOT / "dagster.yaml")  # raises if Dagster rejects it

    raw = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    pg = raw["storage"]["postgres"]["postgres_db"]
    assert pg["scheme"] == "postgresql+psycopg2"  # SQLAlchemy 2.1 would otherwise want psycopg 3
    assert {pg[k]["env"] for k in ("hostname", "port", "username", "password", "db_name")} == set(
        PG_VARS
    )
    assert raw["run_coordinator"]["class"] == "QueuedRunCoordinator"
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": LANE_TAG[0], "value": LANE_TAG[1], "limit": 1} in limits
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["run_retries"] == {
        "enabled": True,
        "max_retries": config["run_retries"]["max_retries"],
        "retry_on_asset_or_op_failure": False,
    }
    assert config["run_retries"]["max_retries"] >= 1
    assert config["run_monitoring"]["enabled"] is True
    # A backfill batch of the largest size, at a minute a day, must not be killed as hung; the
    # one-day runs of the schedule and sensor keep their own, shorter cap.
    batch_cap = config["run_monitoring"]["max_runtime_seconds"]
    assert batch_cap >= MAX_DAYS_PER_RUN * 60 > int(DAILY_RUN_TAGS["dagster/max_runtime"])
    assert config["telemetry"] == {"enabled": False}
    # Step logs go to Dagster's default, DAGSTER_HOME/storage: no variable to forget.
    assert "compute_logs" not in raw
    assert {
        m.group(1) for m in re.finditer(r"env: (\w+)", (ROOT / "dagster.yaml").read_text())
    } == set(PG_VARS)


def test_dev_instance_config_has_the_same_limits_on_sqlite(tmp_path: Path) -> None:
    from dagster import DagsterInstance
    from dagster._core.run_coordinator import QueuedRunCoordinator

    config = _instance_settings(tmp_path, ROOT / "dev" / "dagster.yaml")
    assert "storage" not in config  # default SQLite under DAGSTER_HOME: `make dev` needs nothing
    assert config["telemetry"] == {"enabled": False}
    with DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert_one_retraining_at_a_time(instance)


def assert_one_retraining_at_a_time(instance: Any) -> None:
    """The run queue's lane limit and the retrain pool's limit, as dagster.yaml sets them."""
    concurrency = instance.get_concurrency_config()
    assert concurrency.run_queue_config is not None
    assert {"key": LANE_TAG[0], "value": LANE_TAG[1], "limit": 1} in list(
        concurrency.run_queue_config.tag_concurrency_limits
    )
    assert concurrency.pool_config.default_pool_limit == 1
    assert instance.event_log_storage.supports_global_concurrency_limits


@pytest.fixture
def pg_db() -> Iterator[ph.PgDatabase]:
    with ph.fresh_pg_database() as db:
        yield db


def test_dagster_yaml_instance_runs_on_postgres(
    tmp_path: Path, pg_db: ph.PgDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real file, against a real PostgreSQL: psycopg2 driver, queue, pools, retries."""
    from dagster import DagsterInstance
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    for key, value in pg_db.dagster_env().items():
        monkeypatch.setenv(key, value)
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []  # creates the schema through the psycopg2 driver
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert_one_retraining_at_a_time(instance)
        assert instance.run_retries_enabled and instance.run_retries_max_retries >= 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False
        assert instance.run_monitoring_enabled
        assert isinstance(instance.compute_log_manager, LocalComputeLogManager)
        # Dagster's default, under DAGSTER_HOME: no variable needed for it.
        assert instance.compute_log_manager._base_dir == str(home / "storage")
    tables = {row[0] for row in pg_db.query("select tablename from pg_tables")}
    assert {"runs", "event_logs", "concurrency_slots"} <= tables


def test_dockerfile_layers_targets_and_user() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    stages: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line.upper().startswith("FROM "):
            parts = line.split()
            current = parts[3] if len(parts) >= 4 and parts[2].upper() == "AS" else parts[1]
            stages[current] = [line]
        else:
            stages[current].append(line)
    assert stages["base"][0].split()[1] == "python:3.11-slim"
    assert list(stages)[-1] == "prod", "prod must be the default (last) target"
    assert {"prod", "dev"} <= stages.keys()
    base = stages["base"]
    assert f"DAGSTER_HOME={CONTAINER_HOME}" in " ".join(base)
    lock_install = next(i for i, ln in enumerate(base) if "pip install -r requirements.lock" in ln)
    assert any(ln.startswith("COPY requirements.lock") for ln in base[:lock_install])
    assert not any("retrain_assets" in ln for ln in base)  # code edits must not bust the dep layer
    assert any(ln.startswith("COPY dagster.yaml workspace.yaml " + CONTAINER_HOME) for ln in base)
    assert any("pip install --no-deps ." in ln for ln in stages["prod"])
    assert any(".[dev]" in ln for ln in stages["dev"])
    for stage in ("prod", "dev"):
        users = [ln.split()[1] for ln in stages[stage] if ln.upper().startswith("USER ")]
        assert users and users[-1] not in {"root", "0"}, f"{stage} runs as root"
    # Named volumes are seeded with their mount point's ownership: the image must create each
    # Dagster service mount point (owned by the runtime user).
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    base_text = " ".join(base)
    for service in DAGSTER_SERVICES:
        for target in mounts(compose, service):
            assert target in base_text, f"Dockerfile does not create mount point {target}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv"} <= set(ignored)
    for line in lines:
        if line.upper().startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
                assert source not in ignored


# ---------------------------------------------------------------------------------------------
# End to end: the compose services as processes, against a fresh PostgreSQL database
# ---------------------------------------------------------------------------------------------

PARTITION = "2026-03-01"
ASSETS = ph.RETRAIN_ASSETS


def run_check(argv: list[str], env: Mapping[str, str], timeout: float = 60) -> None:
    result = subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv} -> {result.returncode}\n{result.stdout}{result.stderr}"


@pytest.mark.e2e
def test_production_topology_runs_retrain_job_on_postgres(
    tmp_path: Path,
    pg_db: ph.PgDatabase,
    compose: dict[str, Any],
    env_example: dict[str, str],
) -> None:
    from dagster_graphql import DagsterGraphQLClient

    timings: dict[str, float] = {}
    t0 = time.monotonic()
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The image bakes both files into DAGSTER_HOME verbatim; so does the test.
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    shutil.copy(ROOT / "workspace.yaml", home / "workspace.yaml")
    grpc_port, web_port = ph.free_port(), ph.free_port()
    overrides: dict[str, str | None] = {
        **pg_db.dagster_env(),
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",  # no compose DNS here
        "DAGSTER_CODE_SERVER_PORT": str(grpc_port),
        "RETRAIN_DATA_DIR": None,  # the built-in demo stream
        # retrain_schedule runs by default; at 01:00 UTC it would queue a newer day ahead of ours
        # and move the live pointer past it. Once a year instead of daily keeps the test exact.
        "RETRAIN_SCHEDULE_CRON": "0 1 1 1 *",
    }
    code_env = local_env(compose, "code_server", env_example, home, overrides)
    registry = Path(code_env["RETRAIN_REGISTRY_DIR"])
    assert registry.is_relative_to(home) and Path(code_env["RETRAIN_STORAGE_DIR"]).is_relative_to(
        home
    )
    env_of = {s: local_env(compose, s, env_example, home, overrides) for s in DAGSTER_SERVICES}
    url = f"http://127.0.0.1:{web_port}"

    with ph.Processes(tmp_path / "logs") as procs:
        procs.start(
            "code_server",
            localise(service_command(compose, "code_server", env_example), home, grpc_port),
            env_of["code_server"],
        )
        # depends_on: service_healthy -- the webserver and daemon start once the code is served.
        ph.wait_grpc(grpc_port, timeout=120, alive=procs.check_alive)
        timings["code_server_ready"] = time.monotonic() - t0
        health = [str(a) for a in compose["services"]["code_server"]["healthcheck"]["test"][1:]]
        run_check(
            localise([interpolate(a, env_example) for a in health], home, grpc_port),
            env_of["code_server"],
        )

        procs.start(
            "webserver",
            localise(service_command(compose, "webserver", env_example), home, web_port),
            env_of["webserver"],
        )
        procs.start(
            "daemon",
            localise(service_command(compose, "daemon", env_example), home, None),
            env_of["daemon"],
        )
        try:
            ph.wait_graphql(url, timeout=60, alive=procs.check_alive)
            entry = ph.wait_location_loaded(
                url, "retrain_assets", timeout=60, alive=procs.check_alive
            )
        except (TimeoutError, ph.ProcessDied, ph.LocationLoadError) as exc:
            pytest.fail(f"{exc}\n{procs.logs()}", pytrace=False)
        timings["location_loaded"] = time.monotonic() - t0
        jobs = {
            j["name"] for repo in entry["locationOrLoadError"]["repositories"] for j in repo["jobs"]
        }
        assert "retrain_job" in jobs, f"jobs in the location: {sorted(jobs)}"
        web_health = compose["services"]["webserver"]["healthcheck"]["test"][1:]
        run_check(
            [
                ph.bin_path("python"),
                *[a.replace(":3000/", f":{web_port}/") for a in web_health[1:]],
            ],
            env_of["webserver"],
        )

        client = DagsterGraphQLClient("127.0.0.1", port_number=web_port)
        run_id = client.submit_job_execution("retrain_job", tags={"dagster/partition": PARTITION})
        try:
            status = ph.wait_run(url, run_id, timeout=120, alive=procs.check_alive)
        except (TimeoutError, ph.ProcessDied) as exc:
            pytest.fail(f"{exc}\n{procs.logs()}", pytrace=False)
        timings["run_finished"] = time.monotonic() - t0
        assert status == "SUCCESS", (
            f"run {run_id} ended {status}:\n"
            + "\n".join(ph.run_error_messages(url, run_id))
            + f"\n{procs.logs()}"
        )
        # The compose health check of the daemon: every daemon heartbeat is recent.
        run_check(localise(["dagster-daemon", "liveness-check"], home, None), env_of["daemon"])
        timings["daemon_live"] = time.monotonic() - t0
    timings["stopped"] = time.monotonic() - t0

    # Everything Dagster recorded is in this test's PostgreSQL database.
    rows = pg_db.query("select pipeline_name, status from runs where run_id = %s", [run_id])
    assert rows == [("retrain_job", "SUCCESS")]
    tags = dict(pg_db.query("select key, value from run_tags where run_id = %s", [run_id]))
    assert tags.get("dagster/partition") == PARTITION
    assert tags.get(LANE_TAG[0]) == LANE_TAG[1], "the queue's tag limit relies on this run tag"
    event_types = {
        row[0]
        for row in pg_db.query(
            "select distinct dagster_event_type from event_logs where run_id = %s", [run_id]
        )
    }
    # Enqueued by the webserver, then launched by the daemon: the QueuedRunCoordinator path.
    assert {"PIPELINE_ENQUEUED", "PIPELINE_STARTING", "PIPELINE_SUCCESS"} <= event_types
    materialized = {
        row[0]
        for row in pg_db.query(
            "select distinct asset_key from event_logs where run_id = %s "
            "and dagster_event_type = 'ASSET_MATERIALIZATION'",
            [run_id],
        )
    }
    # Nothing was live before this first run: the watch had no model to score.
    watched = {"live_model_metrics"}
    assert {f'["{key}"]' for key in ASSETS if key not in watched} <= materialized

    current = registry / code_env["RETRAIN_MODEL_NAME"] / "current.json"
    assert current.is_file(), f"no {current}"
    live = json.loads(current.read_text())
    assert live["version"] == "0.1.0" and live["partition"] == PARTITION
    assert live["run_id"] == run_id
    # Step logs land where compose mounts the shared storage volume.
    assert any((home / "storage").rglob("*.complete"))
    print(f"e2e timings (s since start): {timings}")
