"""registry/store.py under faults: deploys interrupted or killed at every step, or racing."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from retrain_assets import fsutil as fsutil_module
from retrain_assets.registry import ModelRegistry, version_key
from retrain_assets.registry import store as registry_module
from retrain_assets_tests.support.registry_files import assert_consistent, make_card, snapshot

FORK = multiprocessing.get_context("fork")


class Fault(Exception):
    """The injected failure."""


FILESYSTEM_STEPS = ("rename", "replace", "fsync", "write")


@contextmanager
def fault_at(n: int, on_fault: Callable[[str], None]) -> Iterator[list[str]]:
    """Count every filesystem step of a deploy; the n-th one calls on_fault instead of running.

    Steps: os.rename, os.replace, os.fsync, os.write (as registry/store.py and fsutil.py call them)
    and store.write_atomic. Yields the list of steps taken so far.
    """
    steps: list[str] = []
    originals: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def step(*args: Any, **kwargs: Any) -> Any:
            steps.append(f"{name}({', '.join(str(a) for a in args if not isinstance(a, bytes))})")
            if len(steps) == n:
                on_fault(name)
            return real(*args, **kwargs)

        originals.append((owner, name, real))
        setattr(owner, name, step)

    assert registry_module.os is os and fsutil_module.os is os
    for name in FILESYSTEM_STEPS:
        wrap(os, name)
    wrap(registry_module, "write_atomic")
    try:
        yield steps
    finally:
        for owner, name, real in reversed(originals):
            setattr(owner, name, real)


def raise_fault(name: str) -> None:
    raise Fault(name)


def hard_kill(name: str) -> None:
    os._exit(1)  # no cleanup, no finally blocks, no atexit: like SIGKILL or a power cut


def temp_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if (p.name.startswith(".") and p.name != ".lock") or p.name.endswith(".tmp")
    )


# (what is live before, what is deployed): a new version on top of a live one, the very first
# version, a backfill that must stay superseded, and re-deploying an older identical version.
SCENARIOS = {
    "new_version": ([("m-old", "2026-03-04")], ("m-new", "2026-03-05"), "0.1.1", "2026-03-05"),
    "first_version": ([], ("m-new", "2026-03-05"), "0.1.0", "2026-03-05"),
    "backfill": ([("m-old", "2026-03-04")], ("m-new", "2026-03-01"), "0.1.1", "2026-03-04"),
    "reuse_older": (
        [("m-new", "2026-03-03"), ("m-old", "2026-03-04")],
        ("m-new", "2026-03-05"),
        "0.1.0",
        "2026-03-05",
    ),
}


def prepare(root: Path, scenario: str) -> ModelRegistry:
    reg = ModelRegistry(root, "classifier")
    for data, partition in SCENARIOS[scenario][0]:
        reg.deploy(data.encode(), make_card(), partition=partition, run_id="setup")
    return reg


def deploy_new(reg: ModelRegistry, scenario: str, run_id: str) -> None:
    data, partition = SCENARIOS[scenario][1]
    reg.deploy(data.encode(), make_card(), partition=partition, run_id=run_id)


def check_after_interruption(
    reg: ModelRegistry,
    scenario: str,
    before: dict[str, bytes],
    n: int,
    swap_step: int | None,
) -> None:
    assert_consistent(reg)
    current_before = before.get("current.json")
    if current_before is None:
        # Nothing was live: either still nothing, or the new version whole.
        assert not reg.current_path.exists() or reg.current().version == SCENARIOS[scenario][2]
    else:
        json.loads(reg.current_path.read_text())
    if swap_step is None or n <= swap_step:
        # Interrupted before (or at) the pointer swap: the pointer is exactly what it was.
        if current_before is None:
            assert not reg.current_path.exists()
        else:
            assert reg.current_path.read_bytes() == current_before
    after = snapshot(reg.root)
    for path, content in before.items():
        if path.startswith("versions/"):
            assert after.get(path) == content, f"{path} changed (step {n})"

    # The next clean deploy succeeds, cleans staging and ends where an uninterrupted one would.
    deploy_new(reg, scenario, run_id="retry")
    assert_consistent(reg)
    expected_version, expected_partition = SCENARIOS[scenario][2], SCENARIOS[scenario][3]
    assert reg.current().partition == expected_partition
    if expected_partition == SCENARIOS[scenario][1][1]:
        assert reg.current().version == expected_version
    assert reg.versions()[-1] == max(
        [*(p.split("/")[1] for p in before if p.startswith("versions/")), expected_version],
        key=version_key,
    ), "an interrupted deploy must not burn a version number"
    assert temp_files(reg.root) == [], f"leftovers after step {n}"
    events = [(e["event"], e["version"], e["partition"]) for e in reg.history()]
    wanted = "superseded" if scenario == "backfill" else "deployed"
    assert (wanted, expected_version, SCENARIOS[scenario][1][1]) in events, (n, events)


def clean_trace(root: Path, scenario: str) -> tuple[list[str], int | None]:
    reg = prepare(root, scenario)
    with fault_at(10**9, raise_fault) as steps:
        deploy_new(reg, scenario, run_id="trace")
    swap = [
        i for i, s in enumerate(steps, start=1) if s.startswith("replace(") and "current.json" in s
    ]
    return list(steps), (swap[-1] if swap else None)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_deploy_interrupted_at_every_step(tmp_path: Path, scenario: str) -> None:
    steps, swap_step = clean_trace(tmp_path / "trace", scenario)
    assert len(steps) >= 4
    if scenario in ("new_version", "first_version"):
        # The fault injection really covers the deploy: files, version dir, pointer, history.
        names = " ".join(steps)
        for needle in ("model.skops", "card.json", "rename(", "current.json", "write("):
            assert needle in names, (needle, steps)
    assert (swap_step is None) == (scenario == "backfill")

    n = 0
    while True:
        n += 1
        reg = prepare(tmp_path / f"step-{n}", scenario)
        before = snapshot(reg.root)
        try:
            with fault_at(n, raise_fault):
                deploy_new(reg, scenario, run_id=f"crash-{n}")
        except Fault:
            check_after_interruption(reg, scenario, before, n, swap_step)
            continue
        break
    assert n == len(steps) + 1  # every step was interrupted once, then it ran to the end


def _deploy_in_child(root: str, scenario: str, n: int) -> None:
    reg = ModelRegistry(Path(root), "classifier")
    with fault_at(n, hard_kill):
        deploy_new(reg, scenario, run_id=f"killed-{n}")
    os._exit(0)


@pytest.mark.parametrize("scenario", ["new_version", "first_version", "backfill"])
def test_deploy_hard_killed_at_every_step(tmp_path: Path, scenario: str) -> None:
    steps, swap_step = clean_trace(tmp_path / "trace", scenario)
    n = 0
    while True:
        n += 1
        reg = prepare(tmp_path / f"step-{n}", scenario)
        before = snapshot(reg.root)
        child = FORK.Process(
            target=_deploy_in_child, args=(str(tmp_path / f"step-{n}"), scenario, n)
        )
        child.start()
        child.join(30)
        assert child.exitcode in (0, 1), child.exitcode
        if child.exitcode == 0:
            break
        check_after_interruption(reg, scenario, before, n, swap_step)
    assert n == len(steps) + 1


def _deploy_when_told(root: str, data: bytes, partition: str, go: Any) -> None:
    reg = ModelRegistry(Path(root), "classifier")
    real = registry_module.write_atomic

    def slow_write(path: Path, content: bytes) -> None:
        time.sleep(0.05)  # widen the window in which an unlocked deploy would interleave
        real(path, content)

    registry_module.write_atomic = slow_write
    go.wait(10)
    reg.deploy(data, make_card(), partition=partition, run_id=f"run-{partition}")
    os._exit(0)


def test_concurrent_deploys_are_serialised(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m-live", make_card(), partition="2026-03-01", run_id="setup")
    partitions = ["2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08"]
    go = FORK.Event()
    children = [
        FORK.Process(target=_deploy_when_told, args=(str(tmp_path), p.encode(), p, go))
        for p in partitions
    ]
    for child in children:
        child.start()
    go.set()
    for child in children:
        child.join(30)
    assert [c.exitcode for c in children] == [0] * len(children)

    assert reg.versions() == ["0.1.0", "0.1.1", "0.1.2", "0.1.3", "0.1.4"]
    assert sorted(reg.card(v)["partition"] for v in reg.versions()[1:]) == partitions
    assert reg.current().partition == "2026-03-08"
    assert reg.card(reg.current().version)["partition"] == "2026-03-08"
    assert_consistent(reg)
    history = reg.history()
    assert sorted(e["partition"] for e in history[1:]) == partitions
    assert {e["event"] for e in history[1:]} <= {"deployed", "superseded"}
    assert next(e for e in history if e["partition"] == "2026-03-08")["event"] == "deployed"
    assert temp_files(reg.root) == []
