"""registry/upkeep.py: pruning old versions and repairing a registry broken by hand."""

from __future__ import annotations

from pathlib import Path

from retrain_assets.registry import ModelRegistry
from retrain_assets_tests.support.registry_files import make_card, two_versions


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


def test_repair_rebuilds_a_broken_current_json_from_history(tmp_path: Path) -> None:
    reg = two_versions(tmp_path)
    reg.current_path.write_text("{truncated")
    assert reg.repair(dry_run=True)[-1] == "current.json would point to 0.1.1"
    assert reg.current_path.read_text() == "{truncated"  # a dry run changes nothing
    report = reg.repair()
    assert report[0].startswith(f"{reg.current_path}: not valid JSON")
    assert report[-1] == "current.json points to 0.1.1"
    assert reg.current().version == "0.1.1"
    assert reg.history()[-1]["event"] == "repaired"
    assert reg.repair() == []  # sound now


def test_repair_skips_a_damaged_live_version_and_reports_it(tmp_path: Path) -> None:
    reg = two_versions(tmp_path)
    (reg.versions_dir / "0.1.1" / "model.skops").write_bytes(b"tampered")
    report = reg.repair()
    assert report[0].startswith("0.1.1: damaged:") and "does not match" in report[0]
    assert "current.json names 0.1.1, which is missing or damaged" in report
    assert reg.current().version == "0.1.0"
    assert (reg.versions_dir / "0.1.1").is_dir()  # reported, never deleted


def test_a_lost_history_never_turns_into_deletions(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    for i in range(5):
        reg.deploy(f"m{i}".encode(), make_card(), partition=f"2026-03-0{i + 1}", run_id=f"r{i}")
    reg.history_path.unlink()
    assert reg.prunable(1) == [] and reg.prune(1) == []
    assert len(reg.versions()) == 5
