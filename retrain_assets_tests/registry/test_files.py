"""registry/files.py: reading versions, model bytes, the live pointer and the history.

Each read is checked, and files a person may leave there by hand are ignored or named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.model_file import model_from_bytes, model_to_bytes
from retrain_assets.registry import ModelRegistry, RegistryError
from retrain_assets_tests.support.registry_files import make_card, sha, two_versions


def test_real_model_round_trips_through_the_registry(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2))
    y = (x[:, 0] > 0).astype(int)
    pipeline = build_pipeline("random_forest", {"n_estimators": 5}).fit(x, y)
    data = model_to_bytes(pipeline)
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(data, make_card(), partition="2026-03-05", run_id="r1")
    loaded = model_from_bytes(reg.load_bytes(reg.current().version))
    np.testing.assert_array_equal(loaded.predict(x), pipeline.predict(x))
    # The same model fitted again is recognised as the same artifact.
    again = model_to_bytes(build_pipeline("random_forest", {"n_estimators": 5}).fit(x, y))
    assert reg.deploy(again, make_card(), partition="2026-03-05", run_id="r2").event == (
        "unchanged"
    )


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


def test_history_survives_a_torn_last_line(tmp_path: Path) -> None:
    # A crash (or a full disk) cut the last append short; later events must still be readable.
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m1", make_card(), partition="2026-03-05", run_id="r1")
    with open(reg.history_path, "a") as handle:
        handle.write('{"event": "deployed", "vers')
    assert [e["version"] for e in reg.history()] == ["0.1.0"]
    reg.deploy(b"m2", make_card(), partition="2026-03-06", run_id="r2")
    assert [e["version"] for e in reg.history()] == ["0.1.0", "0.1.1"]


def test_live_version_names_what_current_json_points_to(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    assert reg.live_version() is None  # before the first deploy
    reg.deploy(b"model-1", make_card(), partition="2026-03-05", run_id="r1")
    reg.deploy(b"model-2", make_card(), partition="2026-03-06", run_id="r2")
    assert reg.live_version() == reg.current().version == "0.1.1"
    reg.rollback("0.1.0")
    assert reg.live_version() == "0.1.0"


def test_hand_left_files_are_ignored_or_named_with_the_way_out(tmp_path: Path) -> None:
    reg = two_versions(tmp_path)
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
