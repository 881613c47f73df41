"""Helpers for end-to-end tests that run real Dagster processes.

A plain module (not a conftest) so any e2e test can import exactly what it needs:

- ``free_port()``, ``start(cmd, env, log_path)``, ``stop(proc)``, ``Processes`` (start many, stop
  all, fail fast with log tails when one dies);
- ``dagster_env(**overrides)``: a clean environment for child processes;
- ``graphql(url, query, variables)``, ``wait_graphql(url, timeout)``,
  ``wait_location_loaded(url, name, timeout)``, ``wait_run(url, run_id, timeout)``,
  ``run_error_messages(url, run_id)``;
- ``wait_grpc(port, timeout)`` for a code server;
- ``fresh_pg_database()``: a new, randomly named PostgreSQL database, dropped afterwards. When the
  server is unreachable the test is skipped, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

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


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "retrain_e2e") -> Iterator[PgDatabase]:
    """A new database with a random name; dropped (connections and all) on exit."""
    server = PgServer.from_env()
    require_postgres(server)
    name = f"{prefix}_{secrets.token_hex(6)}"
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
