"""telegram/redact.py: the bot token never reaches a result, a log line or an error.

Over every kind of reply a real HTTP peer gives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote

import pytest
import requests
from pytest_httpserver import HTTPServer

from retrain_assets.telegram import TelegramClient, scrub
from retrain_assets.telegram.redact import _SecretScrubFilter
from retrain_assets_tests.support.telegram_api import (
    BODY_401,
    BODY_429,
    BODY_500,
    CHAT_ID,
    OK_BODY,
    SEND_PATH,
    TOKEN,
    api_url,
    assert_no_token,
    assert_result_clean,
    client_records,
    closed_port,
    make_client,
    record_texts,
)


def _scenario_ok(server: HTTPServer) -> str:
    server.expect_request(SEND_PATH).respond_with_json(OK_BODY)
    return api_url(server)


def _scenario_500(server: HTTPServer) -> str:
    server.expect_request(SEND_PATH).respond_with_json(BODY_500, status=500)
    return api_url(server)


def _scenario_401(server: HTTPServer) -> str:
    server.expect_request(SEND_PATH).respond_with_json(BODY_401, status=401)
    return api_url(server)


def _scenario_429(server: HTTPServer) -> str:
    server.expect_request(SEND_PATH).respond_with_json(
        {**BODY_429, "parameters": {"retry_after": 0}}, status=429
    )
    return api_url(server)


def _scenario_not_json(server: HTTPServer) -> str:
    server.expect_request(SEND_PATH).respond_with_data("not json", status=200)
    return api_url(server)


def _scenario_refused(_server: HTTPServer) -> str:
    return f"http://127.0.0.1:{closed_port()}"


@pytest.mark.parametrize(
    ("scenario", "answers"),
    [
        (_scenario_ok, True),
        (_scenario_500, True),
        (_scenario_401, True),
        (_scenario_429, True),
        (_scenario_not_json, True),
        (_scenario_refused, False),
    ],
    ids=["ok", "500", "401", "429", "200-not-json", "refused"],
)
def test_token_never_appears_in_results_or_logs(
    httpserver: HTTPServer,
    caplog: pytest.LogCaptureFixture,
    scenario: Callable[[HTTPServer], str],
    answers: bool,
) -> None:
    caplog.set_level(logging.DEBUG)  # root: every logger, urllib3 included
    caplog.set_level(logging.DEBUG, logger="urllib3")
    client = make_client(scenario(httpserver), budget_s=2.0, max_attempts=3)

    result = client.send_message("hello")

    assert_result_clean(result)
    assert_no_token(*record_texts(client_records(caplog)))
    if answers:
        # The test is only meaningful if urllib3 really logged the request line: it did, and the
        # filter replaced the token in it.
        request_lines = [
            r.getMessage()
            for r in caplog.records
            if r.name == "urllib3.connectionpool" and "sendMessage" in r.getMessage()
        ]
        assert request_lines, "urllib3 did not log the request line; is DEBUG capture on?"
        assert all("/bot***/sendMessage" in line for line in request_lines)
    warnings = [
        r for r in caplog.records if r.name == "retrain_assets.telegram.client" and r.levelno >= 30
    ]
    assert len(warnings) == (0 if result.delivered else 1)


def test_read_timeout_does_not_leak_the_token(
    hanging_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(api_url(hanging_server), read_timeout_s=0.2, budget_s=0.6)

    result = client.send_message("hello")

    assert result.delivered is False
    assert_result_clean(result)
    assert_no_token(*record_texts(client_records(caplog)))


def test_log_filter_is_installed_once_and_scrubs_exceptions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    other_token = "654321:ANOTHER-SECRET-xyz"
    for _ in range(3):
        make_client("http://127.0.0.1:9")
    TelegramClient(other_token, CHAT_ID, "http://127.0.0.1:9")

    urllib3_logger = logging.getLogger("urllib3.connectionpool")
    scrubbers = [f for f in urllib3_logger.filters if isinstance(f, _SecretScrubFilter)]
    assert len(scrubbers) == 1
    assert scrubbers[0].secrets.count(TOKEN) == 1
    assert other_token in scrubbers[0].secrets

    caplog.set_level(logging.DEBUG)
    try:
        raise requests.ConnectionError(f"failed for /bot{quote(TOKEN, safe='')}/sendMessage")
    except requests.ConnectionError:
        urllib3_logger.debug(
            "url %s and %s", f"/bot{TOKEN}/x", f"/bot{other_token}/y", exc_info=True
        )

    assert_no_token(*record_texts(client_records(caplog)))
    assert "654321:ANOTHER-SECRET-xyz" not in caplog.text
    assert "url /bot***/x and /bot***/y" in caplog.text
    assert "failed for /bot***/sendMessage" in caplog.text


def test_repr_hides_the_token() -> None:
    text = repr(make_client("http://127.0.0.1:9"))
    assert CHAT_ID in text
    assert_no_token(text)


def test_scrub_replaces_raw_and_url_quoted_secrets() -> None:
    text = (
        f"POST http://h/bot{TOKEN}/sendMessage failed; "
        "quoted /bot123456%3ASECRET-TOKEN-abc/x lower /bot123456%3aSECRET-TOKEN-abc/y"
    )
    assert scrub(text, TOKEN) == (
        "POST http://h/bot***/sendMessage failed; quoted /bot***/x lower /bot***/y"
    )


def test_scrub_handles_several_and_empty_secrets() -> None:
    assert scrub("a-s3cret b-other c", "s3cret", "other") == "a-*** b-*** c"
    assert scrub("nothing to hide", "") == "nothing to hide"
    assert scrub("nothing to hide") == "nothing to hide"
    # A secret containing another is replaced whole, not piecewise.
    assert scrub("x abcdef y", "abc", "abcdef") == "x *** y"
