"""Cards, snapshots and invariants for the registry tests: model files are arbitrary bytes
there (the registry never looks inside them), which keeps the crash tests fast."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from retrain_assets.registry import ModelRegistry

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


def two_versions(tmp_path: Path) -> ModelRegistry:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m0", make_card(), partition="2026-03-01", run_id="r0")
    reg.deploy(b"m1", make_card(), partition="2026-03-02", run_id="r1")
    return reg
