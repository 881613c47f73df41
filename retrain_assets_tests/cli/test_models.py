"""cli/models.py: list, show, verify, predict, rollback, prune on real models.

Through main() as the console script calls it, plus the installed script itself once.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from retrain_assets import cli
from retrain_assets.registry import ModelRegistry
from retrain_assets_tests.support import bin_path, dagster_env
from retrain_assets_tests.support.registry_models import (
    FEATURES,
    TARGET,
    deploy_models,
    labelled_rows,
)

# Twelve versions, so 0.1.10 and 0.1.11 exist: semver order is not text order.
DAYS = [f"2026-03-{d:02d}" for d in range(1, 13)]


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return deploy_models(tmp_path / "registry", DAYS)


def run(registry: ModelRegistry, capsys: pytest.CaptureFixture[str], *args: str):
    code = cli.main([args[0], "--registry", str(registry.root.parent), *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_is_in_semver_order_and_marks_the_live_version(registry, capsys) -> None:
    code, out, _ = run(registry, capsys, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("version")
    assert [line.split()[0] for line in lines[1:]] == [f"0.1.{i}" for i in range(12)]
    assert lines[-1].endswith("<- live") and "2026-03-12" in lines[-1]
    assert sum("<- live" in line for line in lines) == 1


def test_show_prints_the_card_of_live_previous_or_a_version(registry, capsys) -> None:
    for name, version in (("live", "0.1.11"), ("previous", "0.1.10"), ("0.1.3", "0.1.3")):
        code, out, _ = run(registry, capsys, "show", name)
        card = json.loads(out)
        assert code == 0 and card["version"] == version and card["features"] == FEATURES
    code, _, err = run(registry, capsys, "show", "9.9.9")
    assert code == 2 and "version 9.9.9 does not exist" in err


def test_verify_reports_each_version_and_fails_on_a_damaged_one(registry, capsys) -> None:
    code, out, _ = run(registry, capsys, "verify")
    assert code == 0 and out.count(": ok") == 12
    damaged = registry.versions_dir / "0.1.4" / "model.skops"
    damaged.write_bytes(damaged.read_bytes()[:100])
    code, out, _ = run(registry, capsys, "verify")
    assert code == 1
    assert "0.1.4: FAILED:" in out and "does not match" in out and out.count(": ok") == 11
    code, out, _ = run(registry, capsys, "verify", "0.1.5")
    assert code == 0 and out == "0.1.5: ok\n"


def test_predict_scores_a_file_by_feature_name(registry, capsys, tmp_path: Path) -> None:
    rows = labelled_rows(seed=7)[["f2", "f0", TARGET, "f1"]]  # not the training order
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code, out, _ = run(registry, capsys, "predict", str(tmp_path / "rows.csv"), "--proba")
    assert code == 0
    scored = pd.read_csv(pd.io.common.StringIO(out))
    assert list(scored.columns) == ["f2", "f0", TARGET, "f1", "prediction", "proba_down",
                                    "proba_up"]  # fmt: skip
    assert (scored["prediction"] == rows[TARGET].to_numpy()).mean() > 0.9
    # To a Parquet file, with an older version.
    out_path = tmp_path / "scored.parquet"
    code, _, err = run(
        registry, capsys, "predict", str(tmp_path / "rows.csv"), "--version", "0.1.0",
        "--output", str(out_path),
    )  # fmt: skip
    assert code == 0 and "scored by classifier 0.1.0" in err
    assert len(pd.read_parquet(out_path)) == len(rows)
    # A column the model does not know is one clear line, and nothing is written.
    rows.rename(columns={"f1": "F1"}).to_csv(tmp_path / "renamed.csv", index=False)
    code, out, err = run(registry, capsys, "predict", str(tmp_path / "renamed.csv"))
    assert code == 2 and out == ""
    assert err.startswith("retrain-assets: ") and "missing ['f1']" in err and "['F1']" in err
    assert len(err.strip().splitlines()) == 1


def test_rollback_moves_the_live_pointer_and_rolling_back_to_live_is_a_no_op(
    registry, capsys
) -> None:
    code, out, _ = run(registry, capsys, "rollback", "previous", "--reason", "drift")
    assert code == 0 and "0.1.11 -> 0.1.10 is live" in out
    assert registry.current().version == "0.1.10"
    event = registry.history()[-1]
    assert event["event"] == "rolled_back" and event["reason"] == "drift"
    assert event["run_id"].startswith("cli:")
    events = len(registry.history())
    code, out, _ = run(registry, capsys, "rollback", "0.1.10")
    assert code == 0 and "already live: nothing changed" in out
    assert len(registry.history()) == events


def test_prune_dry_run_lists_and_prune_deletes(registry, capsys) -> None:
    code, out, _ = run(registry, capsys, "prune", "--keep", "3", "--dry-run")
    assert code == 0 and out.startswith("would delete 9 version(s): 0.1.0, 0.1.1,")
    assert len(registry.versions()) == 12
    code, out, _ = run(registry, capsys, "prune", "--keep", "3")
    assert code == 0 and out.startswith("deleted 9 version(s)")
    assert registry.versions() == ["0.1.9", "0.1.10", "0.1.11"]
    code, _, err = run(registry, capsys, "prune", "--keep", "0")
    assert code == 2 and "--keep must be at least 1" in err


def test_the_installed_console_script_reads_the_service_settings(registry) -> None:
    env = dagster_env(RETRAIN_REGISTRY_DIR=str(registry.root.parent))
    done = subprocess.run(
        [bin_path("retrain-assets"), "list"], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("0.1.11")


def test_repair_reports_strays_and_rebuilds_current_json(registry, capsys) -> None:
    code, out, _ = run(registry, capsys, "repair")
    assert code == 0 and "every version verifies, current.json is sound" in out
    (registry.versions_dir / "0.1.3.bak").mkdir()
    registry.current_path.write_text("")
    code, _, err = run(registry, capsys, "list")  # a broken pointer is named, with the way out
    assert code == 2 and "current.json: not valid JSON" in err and "retrain-assets repair" in err
    code, out, _ = run(registry, capsys, "repair")
    assert code == 0
    assert "stray under versions/ (not a version, ignored): 0.1.3.bak" in out
    assert "current.json points to 0.1.11" in out
    assert registry.current().version == "0.1.11"


def test_os_level_failures_are_one_line_and_exit_2(registry, capsys, tmp_path: Path) -> None:
    labelled_rows().to_csv(tmp_path / "rows.csv", index=False)
    bad_output = tmp_path / "rows.csv" / "scored.csv"  # under a file, not a directory
    code, _, err = run(registry, capsys, "predict", str(tmp_path / "rows.csv"),
                       "--output", str(bad_output))  # fmt: skip
    assert code == 2 and err.startswith("retrain-assets: ") and len(err.strip().splitlines()) == 1
    (registry.versions_dir / "0.1.11" / "model.skops").unlink()
    code, _, err = run(registry, capsys, "predict", str(tmp_path / "rows.csv"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, out, _ = run(registry, capsys, "repair")  # the damage it exists to diagnose
    assert code == 0 and "current.json names 0.1.11, which is missing or damaged" in out
    assert "current.json points to 0.1.10" in out
