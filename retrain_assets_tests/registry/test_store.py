"""registry/store.py: deploy and roll back, under a strict umask, against a moved plan."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrain_assets.registry import ModelRegistry, RegistryError
from retrain_assets_tests.support.registry_files import (
    FEATURES,
    make_card,
    read_history,
    sha,
    snapshot,
    two_versions,
)


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
    assert (current.version, current.partition, current.run_id) == (
        "0.1.0",
        "2026-03-05",
        "oncall",
    )
    assert current.sha256 == sha(b"m5")
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


def test_half_versions_left_by_hand_never_block_a_deploy(tmp_path: Path) -> None:
    reg = two_versions(tmp_path)
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
