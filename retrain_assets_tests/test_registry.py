"""retrain_assets.registry: versions, cards, the live pointer, history, crashes and concurrency.

Model files are arbitrary bytes here (the registry never looks inside them) except in the one
test that loads a real model back; that keeps the crash tests, which deploy hundreds of times,
fast.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrain_assets import fsutil as fsutil_module
from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.model_file import model_from_bytes, model_to_bytes
from retrain_assets.registry import (
    FIRST_VERSION,
    ModelCard,
    ModelRegistry,
    RegistryError,
    VersionEntry,
    next_version,
    version_key,
)
from retrain_assets.registry import store as registry_module

FORK = multiprocessing.get_context("fork")
FEATURES = ["a", "b"]


def make_card(
    accuracy: float = 0.9, *, features: list[str] | None = None, estimator: str = "random_forest"
) -> dict[str, Any]:
    """What deployed_model_version hands the registry."""
    return {
        "metrics": {"accuracy": accuracy, "f1_macro": accuracy - 0.01},
        "threshold": 0.8,
        "max_regression": 0.02,
        "estimator": estimator,
        "params": {"n_estimators": 5, "random_state": 0},
        "features": list(features or FEATURES),
        "data_fingerprint": "f" * 64,
        "code_version": "0.1.0+abcdef012345",
        "fit_end_day": "2026-03-04",
        "holdout_start_day": "2026-03-05",
    }


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the registry (except the lock), by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def read_history(reg: ModelRegistry) -> list[dict[str, Any]]:
    return [json.loads(line) for line in reg.history_path.read_text().splitlines()]


def assert_consistent(reg: ModelRegistry) -> None:
    """The invariants a reader depends on, whatever happened before."""
    if reg.versions_dir.is_dir():
        for entry in reg.versions_dir.iterdir():
            if entry.name.startswith(".tmp-"):
                continue  # staging, never read
            assert sorted(p.name for p in entry.iterdir()) == ["card.json", "model.skops"], entry
            card = json.loads((entry / "card.json").read_text())
            assert card["version"] == entry.name
            assert sha((entry / "model.skops").read_bytes()) == card["sha256"]
    if reg.current_path.exists():
        pointer = json.loads(reg.current_path.read_text())
        card = reg.card(pointer["version"])
        assert pointer["sha256"] == card["sha256"]
        assert sha(reg.load_bytes(pointer["version"])) == pointer["sha256"]


# ---- versions ----------------------------------------------------------------------------


def test_first_deploy_is_0_1_0(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    result = reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="run-1")
    assert result.version == FIRST_VERSION == "0.1.0"
    assert (result.event, result.previous_live, result.live, result.created) == (
        "deployed",
        None,
        "0.1.0",
        True,
    )
    assert reg.versions() == ["0.1.0"]
    assert (tmp_path / "classifier" / "versions" / "0.1.0" / "model.skops").read_bytes() == (
        b"model-1"
    )
    assert reg.current()["version"] == "0.1.0"


def test_retrain_with_same_features_and_estimator_bumps_the_patch(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r1")
    result = reg.deploy(b"model-2", make_card(0.91), partition="2026-03-06", run_id="r2")
    assert (result.version, result.previous_live, result.live) == ("0.1.1", "0.1.0", "0.1.1")
    assert reg.versions() == ["0.1.0", "0.1.1"]


def test_changed_feature_set_or_estimator_bumps_the_minor(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    deploys = [
        (make_card(), "0.1.0"),
        (make_card(), "0.1.1"),
        (make_card(features=["a", "b", "c"]), "0.2.0"),
        (make_card(features=["a", "b", "c"]), "0.2.1"),
        (make_card(features=["a", "b", "c"], estimator="logistic_regression"), "0.3.0"),
        # The same features listed in another order are the same kind of model.
        (make_card(features=["a", "c", "b"], estimator="logistic_regression"), "0.3.1"),
        (make_card(features=["c"], estimator="logistic_regression"), "0.4.0"),
    ]
    for day, (card, expected) in enumerate(deploys, start=1):
        result = reg.deploy(
            f"model-{day}".encode(), card, partition=f"2026-03-{day:02d}", run_id=f"r{day}"
        )
        assert result.version == expected
    assert reg.versions() == [v for _, v in deploys]


def test_versions_sort_numerically(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    for day in range(1, 13):
        reg.deploy(f"m{day}".encode(), make_card(), partition=f"2026-03-{day:02d}", run_id="r")
    assert reg.versions()[-3:] == ["0.1.9", "0.1.10", "0.1.11"]
    assert reg.deploy(b"m13", make_card(), partition="2026-03-13", run_id="r").version == "0.1.12"


def test_next_version_rules() -> None:
    card = make_card()
    features, estimator = card["features"], card["estimator"]
    assert next_version(None, features, estimator, None) == "0.1.0"
    latest = VersionEntry("1.4.7", "a" * 64, tuple(features), estimator)
    assert next_version(latest, features, estimator, None) == "1.4.8"
    assert next_version(latest, list(reversed(features)), estimator, None) == "1.4.8"
    assert next_version(latest, ["a"], estimator, None) == "1.5.0"
    assert next_version(latest, features, "logistic_regression", None) == "1.5.0"
    # Another data source starts a new line; a card that does not record its source does not.
    demo = VersionEntry("1.4.7", "a" * 64, tuple(features), estimator, "demo")
    assert next_version(demo, features, estimator, "landing") == "1.5.0"
    assert next_version(demo, features, estimator, "demo") == "1.4.8"
    assert next_version(latest, features, estimator, "landing") == "1.4.8"


def test_redeploying_the_live_artifact_changes_nothing(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r1")
    before = snapshot(reg.root)
    result = reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r2")
    assert (result.version, result.event, result.created) == ("0.1.0", "unchanged", False)
    assert (result.previous_live, result.live) == ("0.1.0", "0.1.0")
    assert snapshot(reg.root) == before  # no new version, pointer and history untouched


def test_identical_artifact_of_an_older_version_reuses_that_version(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r1")
    reg.deploy(b"model-2", make_card(), partition="2026-03-06", run_id="r2")
    result = reg.deploy(b"model-1", make_card(), partition="2026-03-07", run_id="r3")
    assert (result.version, result.event, result.created) == ("0.1.0", "deployed", False)
    assert (result.previous_live, result.live) == ("0.1.1", "0.1.0")
    assert reg.versions() == ["0.1.0", "0.1.1"]
    assert reg.current()["version"] == "0.1.0"
    assert reg.current()["partition"] == "2026-03-07"
    assert reg.card("0.1.0")["partition"] == "2026-03-05"  # the card is written once
    assert read_history(reg)[-1]["event"] == "deployed"
    assert read_history(reg)[-1]["version"] == "0.1.0"


# ---- what is written ---------------------------------------------------------------------


def test_card_current_and_history_fields(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-1", make_card(0.93), partition="2026-03-05", run_id="run-abc")

    card = json.loads((reg.versions_dir / "0.1.0" / "card.json").read_text())
    for key in (
        "version",
        "partition",
        "metrics",
        "threshold",
        "estimator",
        "params",
        "features",
        "data_fingerprint",
        "code_version",
        "sha256",
        "run_id",
        "created_at",
    ):
        assert key in card, key
    assert card["version"] == "0.1.0"
    assert card["partition"] == "2026-03-05"
    assert card["metrics"]["accuracy"] == 0.93
    assert card["threshold"] == 0.8
    assert card["estimator"] == "random_forest"
    assert card["params"] == {"n_estimators": 5, "random_state": 0}
    assert card["features"] == ["a", "b"]
    assert card["data_fingerprint"] == "f" * 64
    assert card["code_version"] == "0.1.0+abcdef012345"
    assert card["sha256"] == sha((reg.versions_dir / "0.1.0" / "model.skops").read_bytes())
    assert card["run_id"] == "run-abc"
    assert card["created_at"].endswith("+00:00")

    current = json.loads(reg.current_path.read_text())
    assert {"version", "partition", "sha256", "run_id", "deployed_at"} <= set(current)
    assert (current["version"], current["partition"], current["run_id"]) == (
        "0.1.0",
        "2026-03-05",
        "run-abc",
    )
    assert current["sha256"] == card["sha256"]

    lines = reg.history_path.read_text().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert {"event", "version", "partition", "run_id", "at"} <= set(event)
    assert (event["event"], event["version"], event["partition"], event["run_id"]) == (
        "deployed",
        "0.1.0",
        "2026-03-05",
        "run-abc",
    )
    assert event["at"] == current["deployed_at"]


def test_real_model_round_trips_through_the_registry(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2))
    y = (x[:, 0] > 0).astype(int)
    pipeline = build_pipeline("random_forest", {"n_estimators": 5}).fit(x, y)
    data = model_to_bytes(pipeline)
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(data, make_card(), partition="2026-03-05", run_id="r1")
    loaded = model_from_bytes(reg.load_bytes(reg.current()["version"]))
    np.testing.assert_array_equal(loaded.predict(x), pipeline.predict(x))
    # The same model fitted again is recognised as the same artifact.
    again = model_to_bytes(build_pipeline("random_forest", {"n_estimators": 5}).fit(x, y))
    assert reg.deploy(again, make_card(), partition="2026-03-05", run_id="r2").event == (
        "unchanged"
    )


# ---- backfills never move the live pointer backwards -------------------------------------


def test_older_partition_is_superseded_and_current_json_is_untouched(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-10", make_card(), partition="2026-03-10", run_id="r1")
    current_before = reg.current_path.read_bytes()
    result = reg.deploy(b"model-05", make_card(), partition="2026-03-05", run_id="backfill")
    assert (result.event, result.version, result.live, result.previous_live) == (
        "superseded",
        "0.1.1",
        "0.1.0",
        "0.1.0",
    )
    assert reg.current_path.read_bytes() == current_before
    assert reg.card("0.1.1")["partition"] == "2026-03-05"  # published, just not live
    last = read_history(reg)[-1]
    assert (last["event"], last["version"], last["partition"], last["run_id"]) == (
        "superseded",
        "0.1.1",
        "2026-03-05",
        "backfill",
    )
    assert "at" in last


def test_a_live_model_of_another_source_never_pins_the_registry(tmp_path: Path) -> None:
    # The demo ran up to 2026-11-25; the user's own history starts in March.
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"demo", {**make_card(), "source": "demo"}, partition="2026-11-25", run_id="r1")
    real = {**make_card(features=["x", "y"]), "source": "landing"}
    first = reg.deploy(b"real-1", real, partition="2026-03-01", run_id="r2")
    assert (first.event, first.version, first.live) == ("deployed", "0.2.0", "0.2.0")
    # From then on the user's days follow the usual order: an older one is superseded.
    reg.deploy(b"real-2", real, partition="2026-03-02", run_id="r3")
    older = reg.deploy(b"real-0", real, partition="2026-02-28", run_id="r4")
    assert (older.event, reg.current()["version"]) == ("superseded", "0.2.1")
    assert reg.snapshot().live_source == "landing"


def test_the_same_features_from_another_source_start_a_new_minor_line(tmp_path: Path) -> None:
    # A user's data with the demo's very columns: the source alone makes it a new kind of model.
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"demo", {**make_card(), "source": "demo"}, partition="2026-11-25", run_id="r1")
    real = {**make_card(), "source": "landing"}
    first = reg.deploy(b"real-1", real, partition="2026-03-01", run_id="r2")
    assert (first.event, first.version) == ("deployed", "0.2.0")
    again = reg.deploy(b"real-2", real, partition="2026-03-02", run_id="r3")
    assert again.version == "0.2.1"


def test_same_partition_again_with_a_new_model_is_deployed(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-a", make_card(), partition="2026-03-10", run_id="r1")
    result = reg.deploy(b"model-b", make_card(), partition="2026-03-10", run_id="r2")
    assert (result.event, result.live) == ("deployed", "0.1.1")


# ---- integrity ---------------------------------------------------------------------------


def test_load_bytes_refuses_an_altered_model_file(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r1")
    assert reg.load_bytes("0.1.0") == b"model-1"
    (reg.versions_dir / "0.1.0" / "model.skops").write_bytes(b"model-X")
    with pytest.raises(RegistryError) as info:
        reg.load_bytes("0.1.0")
    message = str(info.value)
    assert "0.1.0" in message
    assert "classifier" in message
    assert "sha256" in message
    assert sha(b"model-X") in message and sha(b"model-1") in message


def test_unknown_version_is_a_clear_error(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    with pytest.raises(RegistryError, match=r"classifier: version 9\.9\.9 does not exist"):
        reg.load_bytes("9.9.9")
    assert reg.current() is None
    assert reg.versions() == [] and reg.history() == []


# ---- rollback ----------------------------------------------------------------------------


def test_rollback_moves_the_pointer_back_and_records_it(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    for day in (5, 6, 7):
        reg.deploy(f"m{day}".encode(), make_card(), partition=f"2026-03-0{day}", run_id=f"r{day}")
    result = reg.rollback("0.1.0", run_id="oncall")
    assert (result.event, result.version, result.previous_live, result.live) == (
        "rolled_back",
        "0.1.0",
        "0.1.2",
        "0.1.0",
    )
    current = reg.current()
    assert (current["version"], current["partition"], current["run_id"]) == (
        "0.1.0",
        "2026-03-05",
        "oncall",
    )
    assert current["sha256"] == sha(b"m5")
    last = read_history(reg)[-1]
    assert (last["event"], last["version"], last["run_id"]) == ("rolled_back", "0.1.0", "oncall")
    assert [e["event"] for e in read_history(reg)] == ["deployed"] * 3 + ["rolled_back"]
    assert reg.versions() == ["0.1.0", "0.1.1", "0.1.2"]  # nothing deleted


def test_rollback_refuses_a_damaged_or_unknown_version(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m1", make_card(), partition="2026-03-05", run_id="r1")
    reg.deploy(b"m2", make_card(), partition="2026-03-06", run_id="r2")
    (reg.versions_dir / "0.1.0" / "model.skops").write_bytes(b"tampered")
    before = snapshot(reg.root)
    with pytest.raises(RegistryError, match="0.1.0"):
        reg.rollback("0.1.0")
    with pytest.raises(RegistryError, match="0.7.0"):
        reg.rollback("0.7.0")
    assert snapshot(reg.root) == before


# ---- history -----------------------------------------------------------------------------


def test_history_survives_a_torn_last_line(tmp_path: Path) -> None:
    # A crash (or a full disk) cut the last append short; later events must still be readable.
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m1", make_card(), partition="2026-03-05", run_id="r1")
    with open(reg.history_path, "a") as handle:
        handle.write('{"event": "deployed", "vers')
    assert [e["version"] for e in reg.history()] == ["0.1.0"]
    reg.deploy(b"m2", make_card(), partition="2026-03-06", run_id="r2")
    assert [e["version"] for e in reg.history()] == ["0.1.0", "0.1.1"]


# ---- crash safety ------------------------------------------------------------------------


class Fault(Exception):
    """The injected failure."""


FILESYSTEM_STEPS = ("rename", "replace", "fsync", "write")


@contextmanager
def fault_at(n: int, on_fault: Callable[[str], None]) -> Iterator[list[str]]:
    """Count every filesystem step of a deploy; the n-th one calls on_fault instead of running.

    Steps: os.rename, os.replace, os.fsync, os.write (as registry.py and storage.py call them)
    and registry.write_atomic. Yields the list of steps taken so far.
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
        assert not reg.current_path.exists() or reg.current()["version"] == SCENARIOS[scenario][2]
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
    assert reg.current()["partition"] == expected_partition
    if expected_partition == SCENARIOS[scenario][1][1]:
        assert reg.current()["version"] == expected_version
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


# ---- concurrency -------------------------------------------------------------------------


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
    assert reg.current()["partition"] == "2026-03-08"
    assert reg.card(reg.current()["version"])["partition"] == "2026-03-08"
    assert_consistent(reg)
    history = reg.history()
    assert sorted(e["partition"] for e in history[1:]) == partitions
    assert {e["event"] for e in history[1:]} <= {"deployed", "superseded"}
    assert next(e for e in history if e["partition"] == "2026-03-08")["event"] == "deployed"
    assert temp_files(reg.root) == []


def test_plan_predicts_what_deploy_then_does(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "m")
    steps = [
        (b"one", "2026-03-02", make_card()),
        (b"two", "2026-03-01", make_card()),  # an older day: superseded
        (b"three", "2026-03-03", make_card(features=["a", "c"])),  # new features: minor bump
        (b"three", "2026-03-03", make_card(features=["a", "c"])),  # identical: unchanged
    ]
    for data, day, card in steps:
        planned = reg.snapshot().plan(
            sha256=sha(data), features=card["features"], estimator=card["estimator"], partition=day
        )
        done = reg.deploy(data, card, partition=day, run_id="r", expected=planned)
        assert done == planned
    assert [(e["event"], e["version"]) for e in read_history(reg)] == [
        ("deployed", "0.1.0"),
        ("superseded", "0.1.1"),
        ("deployed", "0.2.0"),
    ]


def test_deploy_refuses_a_plan_the_registry_moved_away_from(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "m")
    reg.deploy(b"one", make_card(), partition="2026-03-01", run_id="r1")
    planned = reg.snapshot().plan(
        sha256=sha(b"two"), features=FEATURES, estimator="random_forest", partition="2026-03-02"
    )
    # Another writer deploys in between: the plan was judged against a model no longer live.
    reg.deploy(b"other", make_card(), partition="2026-03-03", run_id="r2")
    before = snapshot(reg.root)
    with pytest.raises(RegistryError, match="the registry changed after 2026-03-02 was evaluated"):
        reg.deploy(b"two", make_card(), partition="2026-03-02", run_id="r3", expected=planned)
    assert snapshot(reg.root) == before


# ---- retention and permissions ---------------------------------------------------------------


def test_prune_keeps_the_live_its_previous_the_last_k_live_and_the_highest(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    for i in range(6):  # 0.1.0 .. 0.1.5 deployed on days 10..15, each made live
        reg.deploy(f"m{i}".encode(), make_card(), partition=f"2026-03-{10 + i}", run_id=f"r{i}")
    reg.rollback("0.1.1", run_id="ops", reason="bad 0.1.5")  # live 0.1.1, previous 0.1.5
    # A backfill of an old day publishes 0.1.6 as superseded: it never went live.
    assert reg.deploy(b"old", make_card(), partition="2026-03-01", run_id="bf").event == (
        "superseded"
    )
    # Went live, most recent first: 0.1.1 (rollback), 0.1.5, 0.1.4, 0.1.3, ...
    assert reg.prunable(2) == ["0.1.0", "0.1.2", "0.1.3", "0.1.4"]
    assert reg.prunable(0) == []  # 0: keep every version
    before = reg.versions()
    assert reg.prune(3, run_id="cleanup") == ["0.1.0", "0.1.2", "0.1.3"]
    assert reg.versions() == ["0.1.1", "0.1.4", "0.1.5", "0.1.6"]
    assert set(before) - set(reg.versions()) == {"0.1.0", "0.1.2", "0.1.3"}
    pruned = [e for e in reg.history() if e["event"] == "pruned"]
    assert [(e["version"], e["partition"], e["run_id"]) for e in pruned] == [
        ("0.1.0", "2026-03-10", "cleanup"),
        ("0.1.2", "2026-03-12", "cleanup"),
        ("0.1.3", "2026-03-13", "cleanup"),
    ]
    assert not list(reg.versions_dir.glob(".*"))  # nothing half-deleted left behind
    # Numbering continues from the highest version ever published: no string is reused.
    assert reg.deploy(b"new", make_card(), partition="2026-03-20", run_id="r9").version == "0.1.7"
    assert reg.resolve("previous") == "0.1.1" and reg.load_bytes("0.1.1") == b"m1"


def test_published_files_are_readable_by_other_users(tmp_path: Path) -> None:
    old = os.umask(0o077)  # even under a strict umask
    try:
        reg = ModelRegistry(tmp_path, "classifier")
        reg.deploy(b"model", make_card(), partition="2026-03-05", run_id="r1")
    finally:
        os.umask(old)
    version_dir = reg.versions_dir / "0.1.0"
    assert version_dir.stat().st_mode & 0o777 == 0o755
    files = [version_dir / "model.skops", version_dir / "card.json"]
    for path in (*files, reg.current_path, reg.history_path):
        assert path.stat().st_mode & 0o777 == 0o644, path


# ---- what a person may leave in the registry -------------------------------------------------


def _two_versions(tmp_path: Path) -> ModelRegistry:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m0", make_card(), partition="2026-03-01", run_id="r0")
    reg.deploy(b"m1", make_card(), partition="2026-03-02", run_id="r1")
    return reg


def test_hand_left_files_are_ignored_or_named_with_the_way_out(tmp_path: Path) -> None:
    reg = _two_versions(tmp_path)
    (reg.versions_dir / "0.1.0.bak").mkdir()
    (reg.versions_dir / "notes.txt").write_text("x")
    assert reg.versions() == ["0.1.0", "0.1.1"]
    assert reg.strays() == ["0.1.0.bak", "notes.txt"]
    with reg.history_path.open("ab") as handle:
        handle.write(b'{"event": "deployed", "version": "\xff\xfe"}\n[1, 2]\n')
    assert [e["version"] for e in reg.history()] == ["0.1.0", "0.1.1"]
    reg.current_path.write_text('{"version": "0.1.1", "partit')  # cut short by hand
    with pytest.raises(RegistryError, match=r"current.json: not valid JSON .*repair"):
        reg.current()


def test_repair_rebuilds_a_broken_current_json_from_history(tmp_path: Path) -> None:
    reg = _two_versions(tmp_path)
    reg.current_path.write_text("{truncated")
    assert reg.repair(dry_run=True)[-1] == "current.json would point to 0.1.1"
    assert reg.current_path.read_text() == "{truncated"  # a dry run changes nothing
    report = reg.repair()
    assert report[0].startswith(f"{reg.current_path}: not valid JSON")
    assert report[-1] == "current.json points to 0.1.1"
    assert reg.current()["version"] == "0.1.1"
    assert reg.history()[-1]["event"] == "repaired"
    assert reg.repair() == []  # sound now


def test_repair_skips_a_damaged_live_version_and_reports_it(tmp_path: Path) -> None:
    reg = _two_versions(tmp_path)
    (reg.versions_dir / "0.1.1" / "model.skops").write_bytes(b"tampered")
    report = reg.repair()
    assert report[0].startswith("0.1.1: damaged:") and "does not match" in report[0]
    assert "current.json names 0.1.1, which is missing or damaged" in report
    assert reg.current()["version"] == "0.1.0"
    assert (reg.versions_dir / "0.1.1").is_dir()  # reported, never deleted


def test_a_lost_history_never_turns_into_deletions(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    for i in range(5):
        reg.deploy(f"m{i}".encode(), make_card(), partition=f"2026-03-0{i + 1}", run_id=f"r{i}")
    reg.history_path.unlink()
    assert reg.prunable(1) == [] and reg.prune(1) == []
    assert len(reg.versions()) == 5


def test_a_rollback_is_not_undone_by_a_backfill_of_an_older_day(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m1", make_card(), partition="2026-03-01", run_id="r1")
    reg.deploy(b"m5", make_card(), partition="2026-03-05", run_id="r5")
    reg.rollback("0.1.0", run_id="ops", reason="0.1.1 misbehaves")
    live = reg.current()
    assert (live["version"], live["partition"], live["decided_through"]) == (
        "0.1.0", "2026-03-01", "2026-03-05"
    )  # fmt: skip
    # A backfill of 03-03 (between the rolled-back version's day and the newest day decided)
    # is published but does not go live: the live pointer never moves backwards.
    assert reg.deploy(b"m3", make_card(), partition="2026-03-03", run_id="bf").event == (
        "superseded"
    )
    assert reg.current()["version"] == "0.1.0"
    # A new day deploys as always.
    assert reg.deploy(b"m6", make_card(), partition="2026-03-06", run_id="r6").event == "deployed"


def test_half_versions_left_by_hand_never_block_a_deploy(tmp_path: Path) -> None:
    reg = _two_versions(tmp_path)
    (reg.versions_dir / "0.9.0").write_text("a note")  # a file named like a version
    (reg.versions_dir / "0.2.0").mkdir()  # an empty directory
    (reg.versions_dir / "0.1.0" / "card.json").write_text("[]")  # a card damaged by hand
    assert reg.versions() == ["0.1.0", "0.1.1"]
    assert reg.strays() == ["0.2.0", "0.9.0"]
    assert reg.deploy(b"m2", make_card(), partition="2026-03-03", run_id="r2").version == "0.1.2"
    with pytest.raises(RegistryError, match=r"0.1.0/card.json: not a JSON object"):
        reg.card("0.1.0")
    report = reg.repair()
    assert any(line.startswith("0.1.0: damaged:") for line in report)


# ---- the card ----------------------------------------------------------------------------


def test_live_version_names_what_current_json_points_to(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    assert reg.live_version() is None  # before the first deploy
    reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r1")
    reg.deploy(b"model-2", make_card(), partition="2026-03-06", run_id="r2")
    assert reg.live_version() == reg.current()["version"] == "0.1.1"
    reg.rollback("0.1.0")
    assert reg.live_version() == "0.1.0"


def test_a_card_reads_typed_with_one_default_per_fact_and_stays_its_json(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-1", {**make_card(), "refit": True}, partition="2026-03-05", run_id="r1")
    card = reg.card("0.1.0")
    assert (card.version, card.partition, card.features) == ("0.1.0", "2026-03-05", ["a", "b"])
    assert card.sha256 == hashlib.sha256(b"model-1").hexdigest() and card.refit
    assert card.accuracy == card["metrics"]["accuracy"]  # the JSON's keys read as before
    assert dict(card) == json.loads((reg.versions_dir / "0.1.0" / "card.json").read_text())
    # A card from before classes, source, refit and the training end were recorded.
    old = ModelCard.from_dict({"version": "0.0.9", "partition": "2026-01-01", "sha256": "x",
                               "features": ["a"], "metrics": {"accuracy": "n/a"}})  # fmt: skip
    assert (old.classes, old.source, old.fit_end_day, old.refit) == (None, None, None, False)
    assert old.accuracy is None and old.get("created_at", "-") == "-"
