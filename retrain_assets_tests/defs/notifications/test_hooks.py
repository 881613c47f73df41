"""defs/notifications/hooks.py: Telegram messages of real in-process runs.

Every test runs retrain_job in process against a local Bot API server.
"""

import json
import logging
import time

import pytest
from dagster._serdes import serialize_value
from pytest_httpserver import HTTPServer

from retrain_assets.data.demo import demo_day
from retrain_assets.defs.resources import TelegramResource
from retrain_assets_tests.support.inprocess import CHAT, PATH, TOKEN, UI, telegram_for
from retrain_assets_tests.support.service import Service


def sent(server: HTTPServer) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in server.log]


@pytest.fixture
def ok_server(httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request(PATH, method="POST").respond_with_json({"ok": True, "result": {}})
    return httpserver


def test_deployed_message_explains_the_decision(service: Service, ok_server: HTTPServer) -> None:
    service.with_telegram(telegram_for(ok_server))
    first = service.run("2026-03-01")
    second = service.run("2026-03-02")
    assert first.success and second.success

    payloads = sent(ok_server)
    assert len(payloads) == 2
    for payload in payloads:
        assert payload["chat_id"] == CHAT and payload["parse_mode"] == "HTML"

    gate1 = service.store.read_evaluation("2026-03-01")["gate"]
    rows1 = service.registry.card("0.1.0")["fit_rows"]
    assert payloads[0]["text"] == (
        "✅ <b>classifier</b> deployed <b>none → 0.1.0</b>\n"
        f"Day 2026-03-01, trained on {rows1} rows, the whole window\n"
        f"Accuracy {gate1['accuracy']:.4f} (threshold 0.8000; no live model)\n"
        f'<a href="{UI}/runs/{first.run_id}">Open the run in Dagster</a>'
    )
    gate2 = service.store.read_evaluation("2026-03-02")["gate"]
    rows2 = service.registry.card("0.1.1")["fit_rows"]
    assert payloads[1]["text"] == (
        "✅ <b>classifier</b> deployed <b>0.1.0 → 0.1.1</b>\n"
        f"Day 2026-03-02, trained on {rows2} rows, the whole window\n"
        f"Accuracy {gate2['accuracy']:.4f} (threshold 0.8000; on the "
        f"{gate2['compared_rows']} newest rows {gate2['candidate_accuracy_compared']:.4f} vs "
        f"live 0.1.0 {gate2['champion_accuracy']:.4f})\n"
        f'<a href="{UI}/runs/{second.run_id}">Open the run in Dagster</a>'
    )


def test_blocked_message_reads_as_blocked_not_as_a_crash(
    service: Service, ok_server: HTTPServer
) -> None:
    assert service.run("2026-03-01").success  # no Telegram yet: nothing sent
    service.with_telegram(telegram_for(ok_server))
    config = {
        "ops": {
            "retraining": {
                "config": {"accuracy_threshold": 0.999, "hyperparameters": {"n_estimators": 10}}
            }
        }
    }
    result = service.run("2026-03-02", run_config=config)
    assert result.success  # a verdict, not a crash

    payloads = sent(ok_server)
    assert len(payloads) == 1
    accuracy = service.store.read_evaluation("2026-03-02")["gate"]["accuracy"]
    # At that threshold the live model falls short on the day's fresh rows too: the watch's
    # alert comes first, then the verdict.
    alert = service.store.read_outcome("2026-03-02").alert
    assert alert.startswith("live model 0.1.0 scored ") and "below the threshold 0.9990" in alert
    assert payloads[0]["text"] == (
        f"⚠️ {alert}\n"
        "⛔ <b>classifier</b> not deployed for 2026-03-02: blocked by the gate\n"
        f"accuracy {accuracy:.4f} &lt; threshold 0.9990\n"
        "Live version stays 0.1.0\n"
        f'<a href="{UI}/runs/{result.run_id}">Open the run in Dagster</a>'
    )


def test_failed_message_names_the_asset_and_escapes_hostile_values(
    make_service, ok_server: HTTPServer
) -> None:
    service = make_service()
    landing = service.root / "landing"
    landing.mkdir()
    frame = demo_day("2026-04-01", target="label").assign(**{"<b>&": "oops"})
    frame.to_csv(landing / "2026-04-01.csv", index=False)
    service = make_service(data_dir=str(landing), target_column="label")
    service.with_telegram(telegram_for(ok_server))
    result = service.run("2026-04-01")
    assert not result.success

    (payload,) = sent(ok_server)
    text = payload["text"]
    assert text.startswith("❌ <b>classifier</b> retrain failed at <b>raw_dataset</b>\n<code>")
    assert "2026-04-01.csv" in text
    assert "column '&lt;b&gt;&amp;' is not numeric: value 'oops' at row 1" in text
    assert "<b>&" not in text.split("\n", 1)[1]  # only the escaped form reaches Telegram
    assert text.endswith(f'<a href="{UI}/runs/{result.run_id}">Open the run in Dagster</a>')


def test_backfill_of_old_days_sends_no_message_per_day(
    service: Service, ok_server: HTTPServer
) -> None:
    assert service.run("2026-03-10").success
    service.with_telegram(telegram_for(ok_server))
    assert service.run("2026-03-01").success  # superseded: the live model did not change
    assert sent(ok_server) == []
    assert service.run(days=("2026-03-02", "2026-03-04")).success
    (payload,) = sent(ok_server)  # one summary for the batch
    assert payload["text"].startswith(
        "📦 <b>classifier</b> days 2026-03-02..2026-03-04 (3 days)\n"
        "Superseded 3\n"
        f"Live version: {service.registry.current().version}"
    )


def test_asset_graph_backfill_run_notifies_like_retrain_job(
    service: Service, ok_server: HTTPServer
) -> None:
    # "Materialize" on the asset graph and UI asset backfills run Dagster's implicit asset job,
    # not retrain_job: the hooks travel with the assets, so the team still hears about it.
    service.with_telegram(telegram_for(ok_server))
    result = service.run(days=("2026-03-01", "2026-03-03"), implicit=True)
    assert result.success and result.dagster_run.job_name != "retrain_job"
    (payload,) = sent(ok_server)  # one summary, no per-day or duplicate messages
    outcomes = [service.outcome(d) for d in ("2026-03-01", "2026-03-02", "2026-03-03")]
    counts = ", ".join(
        f"{o} {outcomes.count(o)}" for o in ("deployed", "blocked") if outcomes.count(o)
    )
    assert payload["text"].startswith(
        f"📦 <b>classifier</b> days 2026-03-01..2026-03-03 (3 days)\n{counts.capitalize()}\n"
    )


def test_unconfigured_telegram_sends_nothing_and_logs_one_line(
    service: Service, httpserver: HTTPServer
) -> None:
    result = service.run("2026-03-01")
    assert result.success
    assert httpserver.log == []
    lines = [
        e.message
        for e in service.instance.all_logs(result.run_id)
        if "Telegram not configured" in (e.message or "")
    ]
    assert len(lines) == 1


def _assert_token_absent(service: Service, run_id: str, caplog: pytest.LogCaptureFixture) -> None:
    quoted = TOKEN.replace(":", "%3A")
    for record in service.instance.all_logs(run_id):
        text = serialize_value(record)
        assert TOKEN not in text and quoted not in text
    for record in caplog.records:
        if record.name.startswith("werkzeug"):
            continue  # the test server's own access log: the receiving side, not this service
        text = record.getMessage() + str(record.exc_info or "")
        assert TOKEN not in text and quoted not in text


def test_telegram_outage_never_fails_or_stalls_a_run(
    service: Service, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(PATH).respond_with_json(
        {"ok": False, "error_code": 500, "description": "Internal"}, status=500
    )
    service.with_telegram(telegram_for(httpserver, budget_s=2.0))
    started = time.monotonic()
    result = service.run("2026-03-01")
    elapsed = time.monotonic() - started
    assert result.success
    assert service.registry.current().version == "0.1.0"
    assert len(httpserver.log) >= 2  # retried, then gave up within the budget
    warnings = [
        e.message
        for e in service.instance.all_logs(result.run_id)
        if "Telegram message not delivered" in (e.message or "")
    ]
    assert len(warnings) == 1 and "HTTP 500" in warnings[0]
    assert elapsed < 60  # a generous bound: the run itself plus a 2 s delivery budget
    _assert_token_absent(service, result.run_id, caplog)


def test_unreachable_telegram_and_bad_token_leave_no_token_behind(
    make_service, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service = make_service()
    closed = TelegramResource(
        bot_token=TOKEN, chat_id=CHAT, api_url="http://127.0.0.1:9", budget_s=1.0
    )
    service.with_telegram(closed)
    refused = service.run("2026-03-01")
    assert refused.success
    _assert_token_absent(service, refused.run_id, caplog)

    httpserver.expect_request(PATH).respond_with_json(
        {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
    )
    service.with_telegram(telegram_for(httpserver))
    unauthorized = service.run("2026-03-02")
    assert unauthorized.success
    assert len(httpserver.log) == 1  # 401 is not retried
    _assert_token_absent(service, unauthorized.run_id, caplog)


@pytest.mark.parametrize("alert", [True, False])
def test_a_day_without_its_file_is_a_green_skip_that_says_data_late(
    make_service, ok_server: HTTPServer, alert: bool
) -> None:
    landing = make_service().root / "landing"
    landing.mkdir()
    service = make_service(data_dir=str(landing), late_data_alert=alert)
    service.with_telegram(telegram_for(ok_server))
    result = service.run("2026-04-02")
    assert result.success  # a late file is not a failure
    assert service.outcome("2026-04-02") == "skipped"
    if not alert:
        assert sent(ok_server) == []
        return
    (payload,) = sent(ok_server)
    assert payload["text"].startswith("⏰ <b>classifier</b>: no data for 2026-04-02 yet\n")
    assert "neither 2026-04-02.csv nor 2026-04-02.parquet" in payload["text"]
