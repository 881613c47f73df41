"""ml/info.py: ModelInfo, a trained model's facts beside its file and on its card."""

import json

import numpy as np

from retrain_assets.ml.fit import refit
from retrain_assets.ml.info import CARD_FIELDS, ModelInfo
from retrain_assets_tests.support.training_rows import day_rows, fit, window_of

PROVENANCE = {
    "partition": "2026-03-03",
    "target": "target",
    "source": "landing",
    "code_version": "1.0+abc",
    "run_id": "run-1",
    "days_missing": [],
    "days_left_out": [],
}


def test_trained_model_facts_are_json_safe_and_complete() -> None:
    frames = {f"2026-03-0{i}": day_rows(i) for i in range(1, 4)}
    model, _ = fit(window_of(frames), params={"n_estimators": 5, "max_depth": np.int64(3)})
    info = ModelInfo.of(model, "a" * 64, **PROVENANCE)
    facts = json.loads(json.dumps(info.as_dict()))
    assert facts["estimator"] == "random_forest"
    assert facts["params"]["n_estimators"] == 5 and facts["params"]["max_depth"] == "3"
    assert facts["params"]["random_state"] == 0  # defaults are recorded too
    assert facts["features"] == ["a", "b"]
    assert facts["classes"] == [0, 1]
    assert facts["fit_rows"] + facts["holdout_rows"] == 120
    assert facts["window_days"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert len(facts["data_fingerprint"]) == 64
    assert facts["sha256"] == "a" * 64 and facts["source"] == "landing"
    assert not facts["refit"] and "gate_model_sha256" not in facts


def test_a_refit_keeps_the_recipe_and_names_the_model_the_gate_judged() -> None:
    frames = {f"2026-03-0{i}": day_rows(i) for i in range(1, 4)}
    whole = window_of(frames)
    model, _ = fit(whole)
    judged = ModelInfo.of(model, "a" * 64, **PROVENANCE)
    info = judged.refitted(refit(model, whole, "target"), "b" * 64)
    assert info.refit and info.sha256 == "b" * 64 and info.gate_model_sha256 == "a" * 64
    assert info.fit_rows == 120 and info.fit_end_day == "2026-03-03"
    assert (info.params, info.features, info.data_fingerprint) == (
        judged.params,
        judged.features,
        judged.data_fingerprint,
    )
    card = info.card_facts()
    assert set(card) == set(CARD_FIELDS) and card["gate_model_sha256"] == "a" * 64
    assert "gate_model_sha256" not in judged.card_facts()
    assert "sha256" not in card and "run_id" not in card  # the registry's own to write
