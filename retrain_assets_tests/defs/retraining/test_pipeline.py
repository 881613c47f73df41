"""defs/retraining/pipeline.py: one day, and a batch decided day by day, in process."""

import numpy as np
import pandas as pd
import pytest

from retrain_assets.data.demo import demo_day, demo_is_bad_day
from retrain_assets.ml.model_file import model_from_bytes
from retrain_assets_tests.support.inprocess import check_evaluations, materializations, run_tags
from retrain_assets_tests.support.service import Service


def test_one_day_end_to_end_publishes_version_0_1_0(service: Service) -> None:
    result = service.run("2026-03-01")
    assert result.success

    raw = materializations(result, "raw_dataset")["2026-03-01"]
    assert raw["dagster/row_count"] == len(demo_day("2026-03-01"))
    assert set(raw["class_balance"]) == {"0", "1"}
    assert len(raw["content_hash"]) == 64
    stored = pd.read_parquet(service.store.raw_path("2026-03-01"))
    assert len(stored) == raw["dagster/row_count"]

    model = materializations(result, "trained_model")["2026-03-01"]
    assert model["estimator"] == "random_forest"
    assert model["window"] == "2026-02-25..2026-03-01"  # the 5-day test window
    assert model["fit_rows"] + model["holdout_rows"] == model["rows"]
    assert model["holdout_rows"] == pytest.approx(0.2 * model["rows"], abs=1)

    metrics = materializations(result, "evaluation_metrics")["2026-03-01"]
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc"):
        assert 0.5 < metrics[name] <= 1.0, name
    assert metrics["n_holdout"] == model["holdout_rows"]
    assert check_evaluations(result) == {"2026-03-01": True}

    deployed = materializations(result, "deployed_model_version")["2026-03-01"]
    assert deployed["version"] == "0.1.0" and deployed["outcome"] == "deployed"
    assert run_tags(service, result)["retrain_assets/outcome"] == "deployed"
    registry = service.registry
    current = registry.current()
    assert current.version == "0.1.0" and current.partition == "2026-03-01"
    assert current.run_id == result.run_id
    card = registry.card("0.1.0")
    # Exact on the card; the UI's metadata is rounded to 4 places for people.
    assert card["metrics"]["accuracy"] == pytest.approx(metrics["accuracy"], abs=5e-5)
    assert metrics["accuracy"] == round(metrics["accuracy"], 4)
    assert card["threshold"] == 0.8
    # What goes live is the judged recipe refitted on the whole window, the newest rows too.
    assert card["sha256"] == current.sha256 != model["artifact_sha256"]
    assert card["gate_model_sha256"] == model["artifact_sha256"]
    assert card["refit"] is True and deployed["refit_on_full_window"] is True
    assert card["fit_rows"] == model["rows"] and card["holdout_rows"] == model["holdout_rows"]
    assert card["fit_end_day"] == "2026-03-01"
    assert card["features"] == ["f0", "f1", "f2", "f3", "f4", "f5"]
    assert card["data_fingerprint"] == model["data_fingerprint"]
    assert card["run_id"] == result.run_id and card["code_version"].startswith("0.1.0+")
    # The published file is a working model, checked against its sha256 on load.
    pipeline = model_from_bytes(registry.load_bytes("0.1.0"))
    assert pipeline.predict(np.zeros((1, 6))).shape == (1,)


def test_backfill_batch_keeps_per_day_gate_outcomes(service: Service) -> None:
    # 2026-01-30 is a faulty demo day: its gate fails, its neighbours' need not.
    assert demo_is_bad_day(pd.Timestamp("2026-01-30").date())
    result = service.run(days=("2026-01-27", "2026-02-03"))
    assert result.success

    outcomes = check_evaluations(result)
    assert set(outcomes) == {f"2026-01-{d}" for d in range(27, 32)} | {
        "2026-02-01",
        "2026-02-02",
        "2026-02-03",
    }
    blocked = sorted(day for day, passed in outcomes.items() if not passed)
    assert "2026-01-30" in blocked
    passed = sorted(day for day, ok in outcomes.items() if ok)
    assert passed[0] < "2026-01-30" < passed[-1]
    deployed = materializations(result, "deployed_model_version")
    # Each passing day is published, each blocked day is not, one bad day blocks no neighbour.
    assert sorted(deployed) == passed
    assert all(deployed[d]["outcome"] == "deployed" for d in passed)
    assert {service.outcome(d) for d in blocked} == {"blocked"}
    assert service.registry.current().partition == passed[-1]
    # Per-day metrics, as the UI plots them.
    metrics = materializations(result, "evaluation_metrics")
    assert sorted(metrics) == sorted(outcomes)
    assert len({m["accuracy"] for m in metrics.values()}) == len(metrics)
