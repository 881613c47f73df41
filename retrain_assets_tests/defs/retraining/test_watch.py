"""defs/retraining/watch.py: live_model_metrics and the automatic rollback, in process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.model_file import model_to_bytes
from retrain_assets.registry import ModelRegistry
from retrain_assets_tests.support.inprocess import materializations

FEATURES = ["f0", "f1", "f2"]


def day_rows(day: str, n: int = 300, flipped: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(int(day.replace("-", "")))
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    frame["label"] = np.where((frame["f0"] > 0) != flipped, "up", "down")
    return frame


def publish(registry: ModelRegistry, day: str, flipped: bool) -> str:
    """A model of the service's kind, trained up to `day`, made live."""
    rows = day_rows(day, n=1000, flipped=flipped)
    pipeline = build_pipeline("random_forest", {"n_estimators": 10})
    pipeline.fit(rows[FEATURES].to_numpy(), rows["label"].to_numpy())
    card = {
        "metrics": {"accuracy": 0.97},
        "estimator": "random_forest",
        "features": FEATURES,
        "target": "label",
        "fit_end_day": day,
        "holdout_start_day": day,
    }
    return registry.deploy(model_to_bytes(pipeline), card, partition=day, run_id="setup").version


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    directory = tmp_path / "landing"
    directory.mkdir()
    for d in range(4, 9):
        day_rows(f"2026-03-{d:02d}").to_csv(directory / f"2026-03-{d:02d}.csv", index=False)
    return directory


def prepared(make_service, landing: Path, **overrides: object):
    """A registry whose live model (0.1.1) learned the labels backwards; 0.1.0 learned them."""
    service = make_service(data_dir=str(landing), target_column="label", **overrides)
    assert publish(service.registry, "2026-03-01", flipped=False) == "0.1.0"
    assert publish(service.registry, "2026-03-02", flipped=True) == "0.1.1"
    return service


def test_the_live_model_is_scored_on_each_fresh_day_and_plotted(make_service, landing) -> None:
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run(days=("2026-03-04", "2026-03-08"))
    assert result.success
    watched = materializations(result, "live_model_metrics")
    # Nothing was live on the first day; each later day scores the model the day before left.
    assert sorted(watched) == ["2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08"]
    history = [e for e in service.registry.history() if e["event"] == "deployed"]
    live_before = {e["partition"]: e["version"] for e in history}
    for day, metadata in watched.items():
        previous_day = f"2026-03-{int(day[-2:]) - 1:02d}"
        assert metadata["live_version"] == live_before[previous_day]
        assert metadata["rows"] == 300 and 0.9 < metadata["accuracy"] <= 1.0
        assert not metadata["below_threshold"]
        assert metadata["holdout_accuracy"] == pytest.approx(
            service.registry.card(metadata["live_version"])["metrics"]["accuracy"]
        )
    assert service.store.read_outcome("2026-03-08").alert is None


def test_without_auto_rollback_a_failing_live_model_is_reported_not_replaced(
    make_service, landing
) -> None:
    service = prepared(make_service, landing)
    result = service.run("2026-03-08")
    assert result.success
    (metadata,) = materializations(result, "live_model_metrics").values()
    assert metadata["live_version"] == "0.1.1" and metadata["below_threshold"]
    assert metadata["accuracy"] < 0.2 and "rolled_back_to" not in metadata
    assert "live model 0.1.1 scored" in service.store.read_outcome("2026-03-08").alert
    assert not [e for e in service.registry.history() if e["event"] == "rolled_back"]


def test_auto_rollback_restores_a_clearly_better_version_before_the_gate_judges(
    make_service, landing
) -> None:
    service = prepared(make_service, landing, auto_rollback=True)
    result = service.run("2026-03-08")
    assert result.success
    (metadata,) = materializations(result, "live_model_metrics").values()
    assert metadata["rolled_back_to"] == "0.1.0" and metadata["rolled_back_to_accuracy"] > 0.9
    history = service.registry.history()
    rolled = [e for e in history if e["event"] == "rolled_back"]
    assert [(e["version"], e["previous"], e["run_id"]) for e in rolled] == [
        ("0.1.0", "0.1.1", result.run_id)
    ]
    assert rolled[0]["reason"].startswith("automatic: live 0.1.1 scored")
    # Then the day's candidate faces the gate against the rolled-back model, as any day does.
    evaluation = service.store.read_evaluation("2026-03-08")
    assert evaluation["gate"]["champion_version"] == "0.1.0"
    assert service.outcome("2026-03-08") == "deployed"
    assert service.registry.current().previous == "0.1.0"
    # Dagster sees the rollback as well: the alert says what happened.
    assert "rolled back to 0.1.0" in service.store.read_outcome("2026-03-08").alert
    # A re-run of the decided day repeats its decision and rolls nothing back again, even with
    # the bad model live once more (put back by hand) and scored below the threshold.
    service.registry.rollback("0.1.1", run_id="ops", reason="test")
    events_before = len(service.registry.history())
    again = service.run("2026-03-08")
    assert again.success
    assert len(service.registry.history()) == events_before
    assert service.registry.current().version == "0.1.1"
    records = service.instance.fetch_materializations(dg.AssetKey("live_model_metrics"), limit=10)
    assert len(records.records) == 2  # the re-run still scores the live model, for the plot
    latest = records.records[0].asset_materialization.metadata
    assert latest["live_version"].value == "0.1.1" and latest["below_threshold"].value
