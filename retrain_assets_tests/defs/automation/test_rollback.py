"""defs/automation/rollback.py: rollback_job verified, recorded, visible, announced."""

import json

import dagster as dg
from pytest_httpserver import HTTPServer

from retrain_assets_tests.support.inprocess import PATH, telegram_for
from retrain_assets_tests.support.service import Service


def rollback(service: Service, version: str, reason: str = "") -> dg.ExecuteInProcessResult:
    job = service.defs.resolve_job_def("rollback_job")
    config = {"ops": {"rollback_model": {"config": {"version": version, "reason": reason}}}}
    return job.execute_in_process(
        run_config=config, instance=service.instance, raise_on_error=False
    )


def test_rollback_to_previous_moves_the_pointer_records_why_and_announces(
    service: Service, httpserver: HTTPServer
) -> None:
    assert service.run("2026-03-01").success and service.run("2026-03-02").success
    live = service.registry.current().version
    assert live == "0.1.1"
    httpserver.expect_request(PATH, method="POST").respond_with_json({"ok": True, "result": {}})
    service.with_telegram(telegram_for(httpserver))

    result = rollback(service, "previous", reason="accuracy dropped on fresh data")
    assert result.success
    assert service.registry.current().version == "0.1.0"
    last = service.registry.history()[-1]
    assert (last["event"], last["version"], last["previous"]) == ("rolled_back", "0.1.0", "0.1.1")
    assert last["reason"] == "accuracy dropped on fresh data"
    assert last["run_id"] == result.run_id
    observed = [
        e.event_specific_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert [(o.asset_key.path, o.partition) for o in observed] == [
        (["deployed_model_version"], "2026-03-01")
    ]
    ((request, _),) = httpserver.log
    text = json.loads(request.get_data())["text"]
    assert "rolled back <b>0.1.1 → 0.1.0</b>" in text and "accuracy dropped" in text


def test_rollback_to_the_live_version_is_a_no_op_that_says_so(service: Service) -> None:
    assert service.run("2026-03-01").success
    before = service.registry.history()
    result = rollback(service, "0.1.0")
    assert result.success
    assert service.registry.history() == before  # no second rolled_back line
    messages = [e.message or "" for e in service.instance.all_logs(result.run_id)]
    assert any("0.1.0 is already live: nothing to roll back" in m for m in messages)


def test_rollback_to_an_unknown_or_missing_previous_version_fails_clearly(
    service: Service,
) -> None:
    assert service.run("2026-03-01").success
    for version, expected in [
        ("9.9.9", "version 9.9.9 does not exist"),
        ("previous", "0.1.0 is the first live version"),
    ]:
        result = rollback(service, version)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert expected in failure.event_specific_data.error.message
    assert service.registry.current().version == "0.1.0"
