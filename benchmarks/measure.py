"""Wall time and peak RSS of processes, with the standard library only (Linux)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float  # the process's high-water mark (and any children it waited for)
    cpu_s: float  # user + system
    returncode: int


def run_measured(cmd: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path) -> Measured:
    """Run `cmd` to completion and measure it through a small launcher process.

    Linux charges a child the RSS high-water mark of the process it was forked from (kept in
    ru_maxrss across exec), and this harness holds hundreds of MB of libraries and data: the
    launcher (standard library only) forks the command so that its ru_maxrss is its own.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    report = log_path.with_suffix(".rusage.json")
    report.unlink(missing_ok=True)
    launcher = [sys.executable, "-m", "benchmarks.measure", str(report), "--", *cmd]
    with open(log_path, "ab") as log:
        subprocess.run(
            launcher, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    data = json.loads(report.read_text())
    return Measured(data["wall_s"], data["peak_rss_mb"], data["cpu_s"], data["returncode"])


def _launch(report: Path, cmd: list[str]) -> None:
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - replaced by exec
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    report.write_text(
        json.dumps(
            {
                "wall_s": wall,
                "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "returncode": os.waitstatus_to_exitcode(status),
            }
        )
    )


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used so far) of a process, from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name start at field 3 (state).
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@dataclass
class Sampled:
    cmd: str
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0  # as of the last sample: a process's final fraction of a second is missed


@dataclass
class TreeSampler:
    """Polls peak RSS (VmHWM) and CPU time of a process and all its descendants, e.g. `dagster
    dev` and the run workers its code server launches: not our children, so wait4 cannot see
    them (and they may start sessions of their own)."""

    root: int
    interval_s: float = 0.25
    seen: dict[int, Sampled] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        stats = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
                stats[int(entry.name)] = stat
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = set(), [self.root]
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo.extend(children.get(pid, []))
        for pid in tree & stats.keys():
            if pid not in self.seen:
                self.seen[pid] = Sampled(_cmdline(pid))
            record = self.seen[pid]
            record.cpu_s = max(record.cpu_s, stats[pid][1])
            record.peak_rss_mb = max(record.peak_rss_mb, _hwm_mb(pid) or 0.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def start(self) -> None:
        # Sampled once before returning: a workload's `before` (the processes it does not
        # count, e.g. the daemon and the webserver) must see the whole tree already.
        self.sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def matching(self, cmd_contains: str, exclude: set[int] = frozenset()) -> list[Sampled]:
        """Processes whose command line contains `cmd_contains`, except the pids in `exclude`."""
        return [s for pid, s in self.seen.items() if cmd_contains in s.cmd and pid not in exclude]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, object]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {
        name: metadata.version(name)
        for name in ("dagster", "pandas", "numpy", "scikit-learn", "pyarrow", "skops", "isal")
    }
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
    }


if __name__ == "__main__":
    # python -m benchmarks.measure REPORT.json -- command ...
    _launch(Path(sys.argv[1]), sys.argv[3:])
