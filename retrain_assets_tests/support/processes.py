"""Child processes for end-to-end tests: a clean environment, start/stop of process groups,
``Processes`` (start many, stop all, fail fast with log tails), and polling with a ceiling."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


REPO_ROOT = Path(__file__).resolve().parents[2]
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


def poll(
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
    return poll(what, probe, timeout, alive, interval)
