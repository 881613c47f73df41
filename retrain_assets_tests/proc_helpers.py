"""Helpers for end-to-end tests that run real Dagster processes.

A plain module (not a conftest) so any e2e test can import exactly what it needs:

- ``free_port()``, ``start(cmd, env, log_path)``, ``stop(proc)``, ``Processes`` (start many, stop
  all, fail fast with log tails when one dies);
- ``dagster_env(**overrides)``: a clean environment for child processes;
- ``wait_until(what, probe, timeout)``: poll until a probe answers;
- ``graphql(url, query, variables)``, ``wait_graphql(url, timeout)``,
  ``wait_location_loaded(url, name, timeout)``, ``wait_run(url, run_id, timeout)``,
  ``run_error_messages(url, run_id)``;
- ``wait_grpc(port, timeout)`` for a code server;
- ``fresh_pg_database()``: a new, randomly named PostgreSQL database, dropped afterwards. When the
  server is unreachable the test is skipped, except under ``CI=true`` where it fails;
  ``postgres_server_lock(server, exclusive=True)`` for a test that restarts the server;
- reading docker-compose.yml the way compose does (``interpolate``, ``service_env``,
  ``service_command``, ``localise``, ``local_env``), and ``ComposeTopology``: the compose
  services (code server, webserver, daemon) as processes against a PostgreSQL database, with
  ``submit``/``runs``/``wait_runs`` over GraphQL and ``kill``/``start_service`` for fault tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from unittest import mock

import pytest
import yaml

if TYPE_CHECKING:
    from dagster import DagsterInstance

REPO_ROOT = Path(__file__).resolve().parents[1]
# The dagster CLIs installed next to the interpreter running the tests (the project's venv).
BIN_DIR = Path(sys.executable).parent

TERMINAL_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

# Settings a developer may have exported; a child process must see only what the test gives it.
_SCRUBBED_PREFIXES = ("DAGSTER_", "RETRAIN_", "TELEGRAM_")


class ProcessDied(RuntimeError):
    """A process a test relies on exited early."""


class GraphQLError(RuntimeError):
    """The webserver answered with GraphQL errors."""


def bin_path(name: str) -> str:
    """Absolute path of a console script from the test interpreter's environment."""
    candidate = BIN_DIR / name
    return str(candidate) if candidate.exists() else name


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dagster_env(**overrides: str | None) -> dict[str, str]:
    """os.environ without DAGSTER_*/RETRAIN_*/TELEGRAM_* settings, plus ``overrides``.

    An override of ``None`` removes the variable. The venv's bin dir goes first on PATH so that
    processes Dagster spawns (run workers, gRPC servers) use the same installation.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def start(
    cmd: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path = REPO_ROOT,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, stdout+stderr appended to ``log_path``.

    Its own group lets ``stop`` end the children too (the code server's gRPC subprocess and the
    run workers it launches), not just the process we started.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed in stop()
    try:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except BaseException:
        log.close()
        raise
    proc.log_file = log  # type: ignore[attr-defined]
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_group_members(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (Linux /proc; [] elsewhere)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...; comm may contain spaces, so split after ')'.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``timeout`` seconds."""
    pgid = proc.pid  # start() made the process a group leader, so its pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    # Children can outlive the leader; give them the rest of the grace period, then kill.
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    log = getattr(proc, "log_file", None)
    if log is not None:
        log.close()


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"<no log at {path}>"
    return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Named processes started for one test; ``stop_all`` (or leaving the ``with``) ends them.

    Pass ``procs.check_alive`` as ``alive=`` to the wait helpers so a crashed process fails the
    test at once with its log tail, instead of after a long timeout.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, cmd: Sequence[str], env: Mapping[str, str], cwd: Path = REPO_ROOT
    ) -> subprocess.Popen[bytes]:
        if name in self._procs:
            raise ValueError(f"a process named {name!r} was already started")
        proc = start(cmd, env, self.log_dir / f"{name}.log", cwd=cwd)
        self._procs[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 15.0) -> None:
        """Send ``sig`` to the named process's whole group (as `docker kill` does to a container)
        and wait until the group is gone. The name can then be started again; its log goes on.
        """
        proc = self._procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        while _live_group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        log = getattr(proc, "log_file", None)
        if log is not None:
            log.close()
        survivors = _live_group_members(proc.pid)
        if proc.poll() is None or survivors:
            raise RuntimeError(f"{name} (pid {proc.pid}) survived signal {sig}: {survivors}")

    def check_alive(self) -> None:
        for name, proc in self._procs.items():
            code = proc.poll()
            if code is not None:
                raise ProcessDied(
                    f"{name} exited with code {code}; last log lines:\n{tail(self.log_path(name))}"
                )

    def logs(self, lines: int = 30) -> str:
        """The tail of every log, for assertion messages."""
        return "\n".join(
            f"----- {name} ({self.log_path(name)}) -----\n{tail(self.log_path(name), lines)}"
            for name in self._procs
        )

    def stop_all(self) -> None:
        # Reverse start order: clients (daemon, webserver) before the code server they call.
        for proc in reversed(list(self._procs.values())):
            stop(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def _wait(
    what: str,
    probe: Callable[[], Any],
    timeout: float,
    alive: Callable[[], None] | None,
    interval: float = 0.25,
) -> Any:
    """Call ``probe`` until it returns a non-None value; raise TimeoutError with the last error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        if alive is not None:
            alive()
        try:
            result = probe()
        except (OSError, GraphQLError, ValueError) as exc:  # not up yet / not ready yet
            last = exc
            result = None
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def wait_until(
    what: str,
    probe: Callable[[], Any],
    timeout: float,
    alive: Callable[[], None] | None = None,
    interval: float = 0.25,
) -> Any:
    """Poll ``probe`` until it returns something other than None and return that.

    Connection errors, GraphQL errors and ValueErrors count as "not yet" (a service restarting);
    TimeoutError names ``what`` and the last such error.
    """
    return _wait(what, probe, timeout, alive, interval)


def graphql(
    url: str, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """POST a GraphQL query to ``{url}/graphql``; returns ``data`` or raises GraphQLError."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        # GraphQL validation errors come back as HTTP 400 with a JSON body.
        payload = json.loads(exc.read() or b"{}")
        if not payload.get("errors"):
            raise
    if payload.get("errors"):
        raise GraphQLError(json.dumps(payload["errors"])[:2000])
    return payload["data"]


def wait_graphql(url: str, timeout: float, alive: Callable[[], None] | None = None) -> str:
    """Wait until the webserver answers GraphQL; returns the Dagster version it reports."""

    def probe() -> str:
        return str(graphql(url, "{ version }", timeout=5)["version"])

    return _wait(f"GraphQL at {url}", probe, timeout, alive)


_LOCATIONS_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name jobs { name } } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


class LocationLoadError(RuntimeError):
    """The code location answered, with an error instead of definitions."""


def wait_location_loaded(
    url: str, location_name: str, timeout: float, alive: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Wait until ``location_name`` is LOADED; returns its entry (repositories and jobs).

    A location that loaded with an error raises LocationLoadError at once, with Dagster's message.
    """

    def probe() -> dict[str, Any] | None:
        workspace = graphql(url, _LOCATIONS_QUERY, timeout=10)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise GraphQLError(str(workspace))
        for entry in workspace["locationEntries"]:
            if entry["name"] != location_name or entry["loadStatus"] != "LOADED":
                continue
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "PythonError":
                raise LocationLoadError(
                    f"code location {location_name!r} failed to load: {loaded['message']}\n"
                    + "".join(loaded.get("stack") or [])[-3000:]
                )
            return entry
        return None

    return _wait(f"code location {location_name!r} at {url}", probe, timeout, alive)


def run_status(url: str, run_id: str) -> str:
    data = graphql(
        url,
        "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }",
        {"id": run_id},
        timeout=10,
    )["runOrError"]
    if data["__typename"] != "Run":
        raise GraphQLError(f"run {run_id}: {data['__typename']}")
    return str(data["status"])


def wait_run(url: str, run_id: str, timeout: float, alive: Callable[[], None] | None = None) -> str:
    """Poll until the run reaches SUCCESS, FAILURE or CANCELED; returns that status."""

    def probe() -> str | None:
        status = run_status(url, run_id)
        return status if status in TERMINAL_RUN_STATUSES else None

    return _wait(f"run {run_id} to finish", probe, timeout, alive, interval=0.5)


def run_error_messages(url: str, run_id: str) -> list[str]:
    """Step failures, failed checks and the run failure message: what to print when a run fails."""
    query = """
    query($id: ID!) {
      logsForRun(runId: $id, limit: 5000) {
        __typename
        ... on EventConnection {
          events {
            __typename
            ... on MessageEvent { message stepKey level }
            ... on ExecutionStepFailureEvent { error { message } }
            ... on RunFailureEvent { error { message } }
          }
        }
      }
    }
    """
    logs = graphql(url, query, {"id": run_id})["logsForRun"]
    if logs["__typename"] != "EventConnection":
        return [f"logsForRun: {logs}"]
    messages = []
    for event in logs["events"]:
        if event.get("level") in {"ERROR", "CRITICAL"} or event["__typename"].endswith(
            "FailureEvent"
        ):
            error = (event.get("error") or {}).get("message", "")
            messages.append(f"[{event.get('stepKey')}] {event.get('message')} {error}".strip())
    return messages


def wait_grpc(
    port: int, timeout: float, host: str = "127.0.0.1", alive: Callable[[], None] | None = None
) -> None:
    """Wait until a Dagster gRPC/code server reports SERVING on the standard gRPC health API.

    Same probe as `dagster api grpc-health-check`, without that client's printed tracebacks.
    """
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    def probe() -> bool | None:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="DagsterApi"), timeout=2
                )
            except grpc.RpcError as exc:  # not listening yet
                raise OSError(str(exc.code())) from exc
        return True if response.status == health_pb2.HealthCheckResponse.SERVING else None

    _wait(f"code server on {host}:{port}", probe, timeout, alive, interval=0.5)


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgServer:
    """Where the test PostgreSQL runs; override with TEST_PG_HOST/PORT/USER/PASSWORD."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""

    @classmethod
    def from_env(cls) -> PgServer:
        return cls(
            host=os.environ.get("TEST_PG_HOST", "127.0.0.1"),
            port=int(os.environ.get("TEST_PG_PORT", "5432")),
            user=os.environ.get("TEST_PG_USER", "postgres"),
            password=os.environ.get("TEST_PG_PASSWORD", ""),
        )

    def connect(self, dbname: str) -> Any:
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=5,
        )

    def admin_connect(self) -> Any:
        """An autocommit connection to a maintenance database (``postgres``, else ``test``)."""
        import psycopg2

        last: Exception | None = None
        for dbname in ("postgres", "test"):
            try:
                conn = self.connect(dbname)
            except psycopg2.OperationalError as exc:
                last = exc
                continue
            conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
            return conn
        assert last is not None
        raise last


@dataclass(frozen=True)
class PgDatabase:
    server: PgServer
    name: str

    def dagster_env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.server.host,
            "DAGSTER_PG_PORT": str(self.server.port),
            "DAGSTER_PG_USER": self.server.user,
            "DAGSTER_PG_PASSWORD": self.server.password,
            "DAGSTER_PG_DB": self.name,
        }

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self.server.connect(self.name)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()


def postgres_unavailable_reason(server: PgServer | None = None) -> str | None:
    """None when the test server accepts connections, else why not."""
    server = server or PgServer.from_env()
    try:
        conn = server.admin_connect()
    except Exception as exc:
        return f"PostgreSQL at {server.host}:{server.port} (user {server.user}) unreachable: {exc}"
    conn.close()
    return None


def require_postgres(server: PgServer | None = None) -> None:
    """Skip when PostgreSQL is unreachable -- but fail under CI, where it must be there."""
    reason = postgres_unavailable_reason(server)
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


# Whether this process holds the server lock exclusively (then its own databases need no share).
_exclusive_server_lock = False


@contextlib.contextmanager
def postgres_server_lock(server: PgServer, *, exclusive: bool) -> Iterator[None]:
    """A lock on the test PostgreSQL server shared by this suite's processes (pytest-xdist workers).

    Every test database holds it shared; a test that stops or restarts the server holds it
    exclusively, so it waits for the other workers' databases to be dropped and they wait for
    the server to be back, instead of losing it mid-test.
    """
    global _exclusive_server_lock
    if _exclusive_server_lock:  # the restart test's own database
        yield
        return
    path = Path(tempfile.gettempdir()) / f"retrain-assets-tests-pg-{server.host}-{server.port}.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        _exclusive_server_lock = exclusive
        try:
            yield
        finally:
            _exclusive_server_lock = False
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "retrain_e2e") -> Iterator[PgDatabase]:
    """A new database with a random name; dropped (connections and all) on exit.

    Holds ``postgres_server_lock`` shared while the database exists.
    """
    server = PgServer.from_env()
    name = f"{prefix}_{secrets.token_hex(6)}"
    # Lock first: another worker may be restarting the server right now.
    with postgres_server_lock(server, exclusive=False):
        require_postgres(server)
        conn = server.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        try:
            yield PgDatabase(server, name)
        finally:
            conn = server.admin_connect()
            try:
                with conn.cursor() as cur:
                    # FORCE (PostgreSQL 13+) ends sessions a killed process may have left behind.
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                conn.close()


# ---------------------------------------------------------------------------------------------
# docker-compose.yml, read the way compose does, and its Dagster services run as processes
# ---------------------------------------------------------------------------------------------

CONTAINER_HOME = "/opt/dagster/dagster_home"
DAGSTER_SERVICES = ("code_server", "webserver", "daemon")
LOCATION_NAME = "retrain_assets"
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
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


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


_RUNS_QUERY = """
query($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId status creationTime startTime endTime tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""


def runs(
    url: str, *, run_ids: Sequence[str] | None = None, tags: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Runs as GraphQL reports them (newest first), ``tags`` flattened to a dict."""
    run_filter: dict[str, Any] = {}
    if run_ids is not None:
        run_filter["runIds"] = list(run_ids)
    if tags:
        run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    data = graphql(url, _RUNS_QUERY, {"filter": run_filter}, timeout=10)["runsOrError"]
    if data["__typename"] != "Runs":
        raise GraphQLError(f"runsOrError: {data}")
    return [{**run, "tags": {t["key"]: t["value"] for t in run["tags"]}} for run in data["results"]]


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
            setup = local_env(self.compose, "instance_setup", self.env_example, self.home,
                              self.settings)
            subprocess.run(
                localise(service_command(self.compose, "instance_setup", self.env_example),
                         self.home, None),
                env=setup, check=True, capture_output=True, timeout=timeout,
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
        from dagster_graphql import DagsterGraphQLClient

        client = DagsterGraphQLClient("127.0.0.1", port_number=self.web_port)
        return client.submit_job_execution(
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
            return _wait(f"runs {list(run_ids)} to finish", probe, timeout, self.procs.check_alive)


_SENSOR_QUERY = """
query($sel: SensorSelector!) {
  sensorOrError(sensorSelector: $sel) {
    __typename ... on Sensor { id sensorState { status } }
  }
}
"""
_STOP_SENSOR = """
mutation($id: String!) {
  stopSensor(id: $id) {
    __typename ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""
_LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""


def stop_sensor(url: str, sensor: str, location: str = LOCATION_NAME) -> None:
    selector = {
        "repositoryLocationName": location,
        "repositoryName": "__repository__",
        "sensorName": sensor,
    }
    found = graphql(url, _SENSOR_QUERY, {"sel": selector})["sensorOrError"]
    if found["__typename"] != "Sensor":
        raise GraphQLError(f"sensorOrError: {found}")
    stopped = graphql(url, _STOP_SENSOR, {"id": found["id"]})["stopSensor"]
    if stopped["__typename"] != "StopSensorMutationResult":
        raise GraphQLError(f"stopSensor: {stopped}")


def launch_asset_backfill(
    url: str, assets: Sequence[str], partitions: Sequence[str], title: str = "backfill"
) -> str:
    """A backfill as the UI's Materialize -> partitions dialog launches it; returns its id.

    The backfill daemon then plans the runs from the assets' BackfillPolicy."""
    params = {
        "assetSelection": [{"path": [name]} for name in assets],
        "partitionNames": list(partitions),
        "title": title,
    }
    outcome = graphql(url, _LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if outcome["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"launchPartitionBackfill: {outcome}")
    return outcome["backfillId"]
