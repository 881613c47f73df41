"""registry/card.py: the model card, as written and as read back typed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from retrain_assets.registry import LivePointer, ModelCard, ModelRegistry
from retrain_assets_tests.support.registry_files import make_card, sha


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


def test_current_json_reads_as_a_live_pointer_and_is_written_from_one(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r1")
    live = reg.current()
    assert isinstance(live, LivePointer)
    assert live.as_dict() == json.loads(reg.current_path.read_text())  # what the file holds
    assert (live.event, live.previous, live.newest_decided) == ("deployed", None, "2026-03-05")
    # A pointer from before events and rollbacks were recorded reads with the defaults.
    old = LivePointer.from_dict({"version": "0.1.0", "partition": "2026-01-01"})
    assert (old.event, old.decided_through, old.newest_decided) == (
        "deployed", None, "2026-01-01"
    )  # fmt: skip
