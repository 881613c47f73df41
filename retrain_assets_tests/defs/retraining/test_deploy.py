"""defs/retraining/deploy.py: what is published, what goes live, what retention keeps.

Through in-process runs of the retraining op (deployed_model_version).
"""

from collections.abc import Callable

from retrain_assets_tests.support.inprocess import config, materializations
from retrain_assets_tests.support.service import Service


def test_without_refit_the_judged_model_itself_is_published(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(refit=False)
    result = service.run("2026-03-01")
    assert result.success
    model = materializations(result, "trained_model")["2026-03-01"]
    card = service.registry.card("0.1.0")
    # The judged model's own file is published: the card names it as what the gate judged.
    assert card["gate_model_sha256"] == model["artifact_sha256"] and card["refit"] is False
    assert card["sha256"] == service.registry.current().sha256 == model["artifact_sha256"]
    assert card["fit_rows"] == model["fit_rows"]


def test_backfill_of_older_days_never_moves_live_model_backwards(service: Service) -> None:
    assert service.run("2026-03-10").success
    before = (service.registry.root / "current.json").read_bytes()
    result = service.run(days=("2026-03-01", "2026-03-03"))
    assert result.success
    assert (service.registry.root / "current.json").read_bytes() == before
    events = [e for e in service.registry.history() if e["run_id"] == result.run_id]
    assert {e["event"] for e in events} == {"superseded"}
    assert sorted(e["partition"] for e in events) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    # The live model (trained on later data) has seen these holdouts: it is not a fair judge.
    note = service.store.read_evaluation("2026-03-01")["champion_note"]
    assert "covers this whole holdout" in note


def test_redeploying_an_identical_artifact_creates_no_new_version(service: Service) -> None:
    assert service.run("2026-03-01").success
    # Same data, same seed: the same model file. (A plain re-run repeats the recorded decision
    # without reaching the registry; another gate setting makes the day be decided anew.)
    result = service.run("2026-03-01", run_config=config(max_regression=0.05))
    assert result.success
    assert service.registry.versions() == ["0.1.0"]
    deployed = materializations(result, "deployed_model_version")["2026-03-01"]
    assert deployed["outcome"] == "unchanged" and deployed["new_version_created"] is False


def test_changing_the_estimator_bumps_the_minor_version(service: Service) -> None:
    assert service.run("2026-03-01").success
    chosen = config(estimator="hist_gradient_boosting", hyperparameters={"max_iter": 20})
    assert service.run("2026-03-02", run_config=chosen).success
    assert service.registry.current().version == "0.2.0"


def test_the_registry_keeps_the_last_k_live_versions_as_deploys_go(make_service) -> None:
    service = make_service(keep_versions=2)
    result = service.run(days=("2026-03-01", "2026-03-05"))
    assert result.success
    registry = service.registry
    history = registry.history()
    went_live = [e["version"] for e in history if e["event"] == "deployed"]
    assert len(went_live) >= 4  # the demo's early March days deploy
    # The last two live versions stay (the live one and the one before it), nothing else.
    assert registry.versions() == went_live[-2:]
    pruned = [e for e in history if e["event"] == "pruned"]
    assert [e["version"] for e in pruned] == went_live[:-2]
    assert {e["run_id"] for e in pruned} == {result.run_id}
    deployed = materializations(result, "deployed_model_version")
    assert deployed["2026-03-05"]["versions_pruned"] == went_live[-3]
