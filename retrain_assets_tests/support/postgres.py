"""PostgreSQL for end-to-end tests: the server, a fresh database per test, and a lock for the
tests that restart the server. Unreachable under CI=true is a failure, never a skip."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    pass
from retrain_assets_tests.support.processes import in_ci


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

    def admin_execute(self, sql: str) -> None:
        """One statement on the maintenance database (CREATE or DROP DATABASE)."""
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()


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
        server.admin_execute(f'CREATE DATABASE "{name}"')
        try:
            yield PgDatabase(server, name)
        finally:
            # FORCE (PostgreSQL 13+) ends sessions a killed process may have left behind.
            server.admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
