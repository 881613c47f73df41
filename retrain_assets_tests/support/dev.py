"""`dagster dev` as `make dev` runs it, a real process tree, for end-to-end tests and benchmarks."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from retrain_assets_tests.support.dagster_api import LOCATION_NAME, wait_location_loaded
from retrain_assets_tests.support.processes import REPO_ROOT, Processes, bin_path, free_port


@dataclass
class DagsterDev:
    url: str
    procs: Processes
    pid: int  # of `dagster dev`: the webserver, daemon, code server and run workers are below it
    location: str


@contextmanager
def dagster_dev(
    logs: Path, env: Mapping[str, str], module: str | None = None, timeout: float = 180
) -> Iterator[DagsterDev]:
    """Start `dagster dev` with `env` (its DAGSTER_HOME gets dev/dagster.yaml, the run queue's
    limits, and the retrain pool's limit before the daemon's first pass, as `make dev` sets
    it); yield once the code location has loaded; stop the whole tree on exit."""
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dev" / "dagster.yaml", home / "dagster.yaml")
    subprocess.run(
        [bin_path("dagster"), "instance", "concurrency", "set", "retrain", "1"],
        env=dict(env), check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    port = free_port()
    command = [bin_path("dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)]
    if module:  # another code location, e.g. for a before/after benchmark
        command += ["-m", module]
    with Processes(logs) as procs:
        proc = procs.start("dagster_dev", command, dict(env))
        url = f"http://127.0.0.1:{port}"
        location = module or LOCATION_NAME
        wait_location_loaded(url, location, timeout=timeout, alive=procs.check_alive)
        yield DagsterDev(url, procs, proc.pid, location)
