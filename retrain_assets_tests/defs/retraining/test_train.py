"""defs/retraining/train.py: the window's days and features, and windows that fail.

Through in-process runs of the retraining op (trained_model).
"""

from pathlib import Path

import pandas as pd

from retrain_assets.artifacts import ArtifactStore
from retrain_assets.data.demo import demo_day
from retrain_assets.data.sources import make_source
from retrain_assets.defs.partitions import window_of
from retrain_assets.defs.retraining.train import TrainingChoice, publishable, train
from retrain_assets.ml.model_file import sha256
from retrain_assets_tests.support.inprocess import landing_day, materializations, write_demo_days
from retrain_assets_tests.support.service import step_failure


def test_single_class_window_fails_at_trained_model(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    landing.mkdir()
    frame = demo_day("2026-04-01", target="label").assign(label=1)
    frame.to_csv(landing / "2026-04-01.csv", index=False)
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-04-01")
    step, message = step_failure(result)
    assert step == "retraining" and "2026-04-01 at trained_model" in message
    assert "single class" in message and "'label'" in message
    assert service.registry.current() is None


def test_missing_days_inside_the_window_are_tolerated(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_demo_days(landing, ["2026-04-01", "2026-04-03", "2026-04-06"])
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-04-06")
    assert result.success
    model = materializations(result, "trained_model")["2026-04-06"]
    assert model["days_missing"] == ["2026-04-02", "2026-04-04", "2026-04-05"]
    card = service.registry.card(service.registry.current().version)
    assert card["window_days"] == ["2026-04-03", "2026-04-06"]


def test_column_order_never_changes_the_model_kind_or_its_judge(make_service, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2026-03-01", "2026-03-02"):
        landing_day(landing, day, ["a", "b", "target"])
    landing_day(landing, "2026-03-03", ["target", "b", "a"])  # the same data, reordered
    service = make_service(data_dir=str(landing), min_train_rows=50, min_holdout_rows=20)
    assert service.run(days=("2026-03-01", "2026-03-03")).success
    assert service.registry.versions() == ["0.1.0", "0.1.1", "0.1.2"]  # patches, no minor
    assert service.registry.card("0.1.2")["features"] == ["a", "b"]
    evaluation = service.store.read_evaluation("2026-03-03")
    assert evaluation["champion"]["version"] == "0.1.1"  # still a fair judge


def test_a_new_feature_starts_the_window_at_the_change(make_service, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("2026-03-01", "2026-03-02"):
        landing_day(landing, day, ["a", "b", "target"])
    frame = pd.read_csv(landing / "2026-03-02.csv").assign(c=1.0)
    frame.to_csv(landing / "2026-03-03.csv", index=False)
    service = make_service(data_dir=str(landing), min_train_rows=50, min_holdout_rows=20)
    result = service.run(days=("2026-03-01", "2026-03-03"))
    assert result.success, step_failure(result)
    model = materializations(result, "trained_model")["2026-03-03"]
    assert model["days_left_out"] == ["2026-03-01", "2026-03-02"]
    assert model["feature_names"] == ["a", "b", "c"]
    # A new kind of model: a minor version, judged by the threshold alone.
    assert service.registry.current().version == "0.2.0"
    note = service.store.read_evaluation("2026-03-03")["champion_note"]
    assert note == "live model uses other features"


def test_train_stores_the_judged_model_and_publishable_refits_it(tmp_path: Path) -> None:
    # The plain functions the assets call: no run, real files, the demo stream's days.
    source = make_source(None, "target", 10)
    store = ArtifactStore.for_source(tmp_path / "storage", None)
    days = window_of("2026-03-05")
    for day in days[:-1]:
        store.write_raw(day, source.load(day)[0])
    lines: list[str] = []
    choice = TrainingChoice(hyperparameters={"n_estimators": 5})
    frames = {days[-1]: source.load(days[-1])[0]}

    candidate, metadata = train(days[-1], frames, store=store, source=source, target="target",
                                choice=choice, run_id="r1", log=lines.append)  # fmt: skip

    assert frames == {}  # the window consumed the day it was given
    assert metadata["window"] == f"{days[0]}..{days[-1]}" and metadata["days_missing"] == []
    assert metadata["fit_rows"] + metadata["holdout_rows"] == metadata["rows"]
    stored, info, holdout = store.read_model(days[-1])
    assert stored == candidate.model_bytes
    assert info["sha256"] == candidate.info.sha256 == sha256(candidate.model_bytes)
    assert len(holdout) == metadata["holdout_rows"]
    # Once the gate passed: the same recipe on every row, in its own file.
    refitted = publishable(candidate, "target", refit_window=True)
    assert refitted.model.refit and refitted.model.fit_rows == metadata["rows"]
    assert refitted.info.sha256 == sha256(refitted.model_bytes) != candidate.info.sha256
    judged = publishable(candidate, "target", refit_window=False)
    assert judged.model is candidate.model and not judged.model.refit
    assert judged.model_bytes == candidate.model_bytes  # its own file, published as it is
    assert judged.info.sha256 == judged.info.gate_model_sha256 == candidate.info.sha256
