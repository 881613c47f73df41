"""registry/rules.py: version numbers and the deploy rule (event, version, what is live).

Applied by a deploy, and on a snapshot without files.
"""

from __future__ import annotations

from pathlib import Path

from retrain_assets.registry import (
    FIRST_VERSION,
    ModelRegistry,
    RegistrySnapshot,
    VersionEntry,
    next_version,
    switched_source,
    version_key,
)
from retrain_assets_tests.support.registry_files import make_card, read_history, sha, snapshot


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
    assert reg.current().version == "0.1.0"


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
    assert reg.current().version == "0.1.0"
    assert reg.current().partition == "2026-03-07"
    assert reg.card("0.1.0")["partition"] == "2026-03-05"  # the card is written once
    assert read_history(reg)[-1]["event"] == "deployed"
    assert read_history(reg)[-1]["version"] == "0.1.0"


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
    assert (older.event, reg.current().version) == ("superseded", "0.2.1")
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


def test_a_rollback_is_not_undone_by_a_backfill_of_an_older_day(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path, "classifier")
    reg.deploy(b"m1", make_card(), partition="2026-03-01", run_id="r1")
    reg.deploy(b"m5", make_card(), partition="2026-03-05", run_id="r5")
    reg.rollback("0.1.0", run_id="ops", reason="0.1.1 misbehaves")
    live = reg.current()
    assert (live.version, live.partition, live.decided_through) == (
        "0.1.0", "2026-03-01", "2026-03-05"
    )  # fmt: skip
    # A backfill of 03-03 (between the rolled-back version's day and the newest day decided)
    # is published but does not go live: the live pointer never moves backwards.
    assert reg.deploy(b"m3", make_card(), partition="2026-03-03", run_id="bf").event == (
        "superseded"
    )
    assert reg.current().version == "0.1.0"
    # A new day deploys as always.
    assert reg.deploy(b"m6", make_card(), partition="2026-03-06", run_id="r6").event == "deployed"


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


# ---- the rule itself, without files -----------------------------------------------------------

AB = ("a", "b")


def test_plan_decides_event_and_version_from_the_snapshot_alone() -> None:
    one = VersionEntry("0.1.0", "s1", AB, "random_forest", "landing")
    two = VersionEntry("0.1.1", "s2", AB, "random_forest", "landing")
    live = RegistrySnapshot((one, two), live_version="0.1.1", live_partition="2026-03-10")

    def plan(sha: str, day: str, **kinds: object) -> tuple[str, str, str | None, bool]:
        options = {"features": ["b", "a"], "estimator": "random_forest", "source": "landing"}
        result = live.plan(sha256=sha, partition=day, **{**options, **kinds})
        return result.event, result.version, result.live, result.created

    assert plan("new", "2026-03-11") == ("deployed", "0.1.2", "0.1.2", True)
    assert plan("new", "2026-03-10") == ("deployed", "0.1.2", "0.1.2", True)  # same day again
    assert plan("new", "2026-03-09") == ("superseded", "0.1.2", "0.1.1", True)  # a backfill
    assert plan("s2", "2026-03-11") == ("unchanged", "0.1.1", "0.1.1", False)  # live already
    assert plan("s1", "2026-03-11") == ("deployed", "0.1.0", "0.1.0", False)  # reused
    assert plan("new", "2026-03-11", features=["c"]) == ("deployed", "0.2.0", "0.2.0", True)
    # The user's own data after the demo: an older day still goes live, on a new minor line.
    assert plan("new", "2026-03-01", source="demo") == ("deployed", "0.2.0", "0.2.0", True)
    empty = RegistrySnapshot().plan(
        sha256="x", features=["a"], estimator=None, partition="2026-01-01"
    )
    assert (empty.event, empty.version, empty.previous_live) == ("deployed", FIRST_VERSION, None)


def test_versions_compare_as_numbers_and_unknown_sources_never_switch() -> None:
    assert sorted(["0.1.10", "0.1.9", "1.0.0", "0.2.0"], key=version_key) == [
        "0.1.9", "0.1.10", "0.2.0", "1.0.0"
    ]  # fmt: skip
    assert switched_source("demo", "landing") and not switched_source("demo", "demo")
    assert not switched_source(None, "landing") and not switched_source("demo", None)
