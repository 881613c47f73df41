"""docker-compose.yml read the way compose does, and its Dagster services run as plain
processes against PostgreSQL (ComposeTopology): no Docker engine needed."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
import yaml
from dotenv import dotenv_values

if TYPE_CHECKING:
    from dagster import DagsterInstance
from retrain_assets_tests.support.dagster_api import (
    LOCATION_NAME,
    TERMINAL_RUN_STATUSES,
    LocationLoadError,
    client,
    runs,
    wait_graphql,
    wait_grpc,
    wait_location_loaded,
)
from retrain_assets_tests.support.postgres import PgDatabase
from retrain_assets_tests.support.processes import (
    REPO_ROOT,
    ProcessDied,
    Processes,
    bin_path,
    dagster_env,
    free_port,
    poll,
)

CONTAINER_HOME = "/opt/dagster/dagster_home"
DAGSTER_SERVICES = ("code_server", "webserver", "daemon")
PARTITION_TAG = "dagster/partition"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; `$$` escapes a dollar.
COMPOSE_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution (the subset this project uses; no nesting)."""

    def one(match: re.Match[str]) -> str:
        name, colon, op, arg = match.groups()
        value = env.get(name)
        missing = value is None or (colon == ":" and value == "")
        if op == "-" and missing:
            return arg
        if op == "?" and missing:
            raise KeyError(f"compose would refuse to start: {name}: {arg}")
        return value or ""

    return "$".join(COMPOSE_INTERPOLATION.sub(one, part) for part in text.split("$$"))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose's env_file reads them (quotes removed, comments skipped)."""
    values = dotenv_values(path, interpolate=False)
    empty = [key for key, value in values.items() if value is None]
    assert not empty, f"{path.name}: not KEY=VALUE: {empty}"
    return {key: value or "" for key, value in values.items()}


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def service_env(compose: Mapping[str, Any], service: str, env: Mapping[str, str]) -> dict[str, str]:
    environment = compose["services"][service].get("environment") or {}
    assert isinstance(environment, dict), f"{service}: use the mapping form of `environment`"
    return {key: interpolate(str(value), env) for key, value in environment.items()}


def service_command(compose: Mapping[str, Any], service: str, env: Mapping[str, str]) -> list[str]:
    command = compose["services"][service]["command"]
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    return [interpolate(arg, env) for arg in argv]


def localise(argv: list[str], home: Path, port: int | None) -> list[str]:
    """A compose command, made to run on this host: loopback, a free port, a temp DAGSTER_HOME."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "0.0.0.0":
            arg = "127.0.0.1"  # a test never listens on all interfaces
        elif port is not None and i > 0 and argv[i - 1] in {"-p", "--port"}:
            arg = str(port)
        elif arg.startswith(CONTAINER_HOME):
            arg = str(home) + arg[len(CONTAINER_HOME) :]
        out.append(arg)
    return [bin_path(out[0]), *out[1:]]


def local_env(
    compose: Mapping[str, Any],
    service: str,
    env_example: Mapping[str, str],
    home: Path,
    overrides: Mapping[str, str | None],
) -> dict[str, str]:
    """The service's compose environment (from .env.example), container paths moved to ``home``."""
    env: dict[str, str | None] = {}
    for key, value in service_env(compose, service, env_example).items():
        env[key] = (
            str(home) + value[len(CONTAINER_HOME) :] if value.startswith(CONTAINER_HOME) else value
        )
    env.update(overrides)
    return dagster_env(**env)


class ComposeTopology:
    """docker-compose.yml's Dagster services (code server, webserver, daemon) as processes.

    The services' own commands and environment (values from .env.example), the project's
    dagster.yaml and workspace.yaml copied into a temporary DAGSTER_HOME, against ``db``. Only
    what a host without compose needs differs: loopback and free ports instead of the service
    DNS names, container paths moved under ``root``. ``overrides`` set or (None) unset variables
    in every service's environment. By default the demo stream feeds the runs and the schedule
    fires once a year, so it never queues a run of its own during a test.
    """

    def __init__(self, root: Path, db: PgDatabase, **overrides: str | None) -> None:
        self.compose = load_compose()
        self.env_example = read_env_file(REPO_ROOT / ".env.example")
        self.db = db
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True)
        # The image bakes both files into DAGSTER_HOME verbatim; so does the test.
        for name in ("dagster.yaml", "workspace.yaml"):
            shutil.copy(REPO_ROOT / name, self.home / name)
        self.grpc_port, self.web_port = free_port(), free_port()
        settings: dict[str, str | None] = {
            **db.dagster_env(),
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",  # no compose DNS here
            "DAGSTER_CODE_SERVER_PORT": str(self.grpc_port),
            "RETRAIN_DATA_DIR": None,  # the built-in demo stream
            "RETRAIN_SCHEDULE_CRON": "0 1 1 1 *",
            **overrides,
        }
        self.settings = settings
        self.env = {
            service: local_env(self.compose, service, self.env_example, self.home, settings)
            for service in DAGSTER_SERVICES
        }
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.procs = Processes(root / "logs")

    # ---- processes -----------------------------------------------------------------------
    def command(self, service: str) -> list[str]:
        port = {"code_server": self.grpc_port, "webserver": self.web_port}.get(service)
        return localise(service_command(self.compose, service, self.env_example), self.home, port)

    def start_service(self, service: str) -> subprocess.Popen[bytes]:
        return self.procs.start(service, self.command(service), self.env[service])

    def kill(self, service: str) -> None:
        """SIGKILL the service and everything it started, like `docker kill`."""
        self.procs.kill(service)

    def start(self, timeout: float = 180.0) -> None:
        """Start the three services in compose's dependency order; wait until the code is loaded.

        Fails the test (with every log's tail) when a service dies or does not come up.
        """
        with self.failing_with_logs():
            self.start_service("code_server")
            # depends_on: service_healthy -- the webserver and daemon start once code is served.
            wait_grpc(self.grpc_port, timeout=timeout, alive=self.procs.check_alive)
            self.start_service("webserver")
            # depends_on: service_completed_successfully -- the pool limit before the daemon.
            setup = local_env(
                self.compose, "instance_setup", self.env_example, self.home, self.settings
            )
            subprocess.run(
                localise(
                    service_command(self.compose, "instance_setup", self.env_example),
                    self.home,
                    None,
                ),
                env=setup,
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            self.start_service("daemon")
            wait_graphql(self.url, timeout=timeout, alive=self.procs.check_alive)
            wait_location_loaded(
                self.url, LOCATION_NAME, timeout=timeout, alive=self.procs.check_alive
            )

    def stop(self) -> None:
        self.procs.stop_all()

    def __enter__(self) -> ComposeTopology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def failing_with_logs(self) -> Iterator[None]:
        """Turn a timeout or a dead service into a test failure that shows the service logs."""
        try:
            yield
        except (TimeoutError, ProcessDied, LocationLoadError) as exc:
            pytest.fail(f"{exc}\n{self.procs.logs()}", pytrace=False)

    def log_text(self, service: str) -> str:
        path = self.procs.log_path(service)
        return path.read_text(errors="replace") if path.exists() else ""

    # ---- the code server's settings ----------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        """<RETRAIN_REGISTRY_DIR>/<RETRAIN_MODEL_NAME>: current.json, history.jsonl, versions/."""
        env = self.env["code_server"]
        return Path(env["RETRAIN_REGISTRY_DIR"]) / env["RETRAIN_MODEL_NAME"]

    @contextlib.contextmanager
    def instance(self) -> Iterator[DagsterInstance]:
        """The same Dagster instance (dagster.yaml + database) from inside the test process."""
        from dagster import DagsterInstance

        env = self.env["daemon"]
        needed = {k: v for k, v in env.items() if k.startswith("DAGSTER_")}
        with mock.patch.dict(os.environ, needed):
            instance = DagsterInstance.from_config(str(self.home))
        try:
            yield instance
        finally:
            instance.dispose()

    # ---- runs over GraphQL ---------------------------------------------------------------
    def submit(self, partition: str, run_config: Mapping[str, Any] | None = None) -> str:
        """Submit retrain_job for ``partition`` as the UI's launchpad does; returns the run id."""
        return client(self.url).submit_job_execution(
            "retrain_job", run_config=dict(run_config or {}), tags={PARTITION_TAG: partition}
        )

    def runs(self, **query: Any) -> list[dict[str, Any]]:
        return runs(self.url, **query)

    def wait_runs(self, run_ids: Sequence[str], timeout: float) -> dict[str, dict[str, Any]]:
        """Wait until every run is SUCCESS, FAILURE or CANCELED; returns them by run id."""

        def probe() -> dict[str, dict[str, Any]] | None:
            found = {run["runId"]: run for run in self.runs(run_ids=run_ids)}
            done = all(
                found.get(run_id, {}).get("status") in TERMINAL_RUN_STATUSES for run_id in run_ids
            )
            return found if done else None

        with self.failing_with_logs():
            return poll(f"runs {list(run_ids)} to finish", probe, timeout, self.procs.check_alive)
