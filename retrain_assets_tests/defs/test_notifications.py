"""Telegram messages from real in-process runs of retrain_job, against a local Bot API server."""

import json
import logging
import time

import pytest
from dagster._serdes import serialize_value
from pytest_httpserver import HTTPServer

from retrain_assets.artifacts import DayRecord
from retrain_assets.data.demo import demo_day
from retrain_assets.defs.notifications.messages import (
    batch_message,
    blocked_message,
    deployed_message,
    failed_message,
    late_data_message,
    rolled_back_message,
    with_alert,
)
from retrain_assets.defs.resources import TelegramResource
from retrain_assets.telegram import MAX_MESSAGE_CHARS
from retrain_assets_tests.conftest import Service
from retrain_assets_tests.support.inprocess import CHAT, PATH, TOKEN, UI, telegram_for
from retrain_assets_tests.support.telegram_html import assert_valid_telegram_html


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
        f"Live version: {service.registry.current()['version']}"
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
    assert service.registry.current()["version"] == "0.1.0"
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


def test_every_message_at_its_longest_fits_telegram_and_stays_valid_html() -> None:
    # Each field bounded once escaped: no message needs cutting, so its markup is never cut.
    huge = "&<" * 5_000
    link = "http://dagster.internal:3000/runs/" + "&" * 80  # 500 characters once escaped
    common = {"model": huge[:100], "link": link}
    records = [
        DayRecord(f"2026-03-{d:02d}", "r", outcome, "x", huge, alert=huge)
        for d in range(1, 29)
        for outcome in ("failed", "blocked")
    ]
    texts = [
        deployed_message(
            **common, old_version=huge, new_version=huge, partition=huge, accuracy=0.9,
            threshold=0.8, champion_version=None, champion_accuracy=None, rows=10**9,
            uncompared=huge,
        ),
        deployed_message(
            **common, old_version=huge, new_version=huge, partition=huge, accuracy=0.9,
            threshold=0.8, champion_version=huge, champion_accuracy=0.9, rows=10**9,
            compared_rows=10**9, candidate_compared=0.9, refit=True,
        ),
        with_alert(
            blocked_message(**common, partition=huge, reason=huge, live_version=huge),
            model=huge[:100], alert=huge, link=link,
        ),
        rolled_back_message(
            **common, old_version=huge, new_version=huge, partition=huge, reason=huge
        ),
        failed_message(**common, asset=huge, error=huge),
        late_data_message(**common, partition=huge, reason=huge),
        with_alert(None, model=huge[:100], alert=huge, link=link),
        batch_message(**common, days=[huge, huge], records=records, live_version=huge),
    ]  # fmt: skip
    for text in texts:
        assert text is not None and len(text) <= MAX_MESSAGE_CHARS, len(text or "")
        assert_valid_telegram_html(text)
        assert text.endswith("Open the run in Dagster</a>")
    too_long = link + "&" * 100
    assert "href" not in failed_message(model="m", asset="a", error="e", link=too_long)


def test_message_functions_escape_and_truncate() -> None:
    hostile = "<script>&amp;"
    text = deployed_message(
        model=hostile,
        old_version=None,
        new_version="0.1.0",
        partition="2026-03-01",
        accuracy=0.9,
        threshold=0.8,
        champion_version=None,
        champion_accuracy=None,
        rows=10,
        link=f"{UI}/runs/x?a=<b>",
    )
    assert "&lt;script&gt;&amp;amp;" in text and "<script>" not in text
    assert 'href="http://dagster.internal:3000/runs/x?a=&lt;b&gt;"' in text

    text = blocked_message(
        model="m", partition="2026-03-01", reason="x" * 10_000, live_version="0.1.4", link=None
    )
    assert len(text) <= MAX_MESSAGE_CHARS and "x…\nLive version stays 0.1.4" in text

    text = failed_message(model="m", asset="raw_dataset", error="first line\nsecond", link=None)
    assert "first line" in text and "second" not in text

    days = [f"2026-0{1 + d // 28}-{1 + d % 28:02d}" for d in range(33)]
    records = [
        DayRecord(day, "r", outcome, "x", "why " * 500)
        for day, outcome in zip(days, ["blocked", "failed", "deployed"] * 11, strict=True)
    ]
    text = batch_message(model="m", days=days, records=records, live_version="0.1.9", link=None)
    assert len(text) <= MAX_MESSAGE_CHARS
    assert text.splitlines()[1] == "Deployed 11, blocked 11, failed 11"
    assert text.count("(+1 more)") == 2  # ten days listed, the rest counted


def test_an_alert_travels_alone_or_in_front_and_batches_count_it() -> None:
    alert = "live model 0.1.4 scored 0.7000 on 2026-03-05's 300 labelled row(s) <below>"
    alone = with_alert(None, model="m", alert=alert, link=None)
    assert alone == f"⚠️ <b>m</b>: {alert.replace('<below>', '&lt;below&gt;')}"
    assert with_alert("✅ body", model="m", alert=None, link=None) == "✅ body"
    assert with_alert("✅ body", model="m", alert="x", link=None) == "⚠️ x\n✅ body"
    records = [
        DayRecord(f"2026-03-0{d}", "r", "deployed", "s", "ok", alert=f"a{d}" if d > 3 else None)
        for d in range(1, 9)
    ]
    text = batch_message(model="m", days=[r.day for r in records], records=records,
                         live_version="0.1.8", link=None)  # fmt: skip
    assert "Live model below the threshold on fresh rows on 5 days:\n  a4\n  a5\n  a6\n" in text
    assert "(+2 more)" in text


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
