"""telegram/client.py: retries, retry_after, the time budget and timeouts, over HTTP.

Nothing in requests is mocked: every test talks HTTP to pytest-httpserver (or to a closed port).
Only time is injected where a test would otherwise have to wait for real.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from retrain_assets.telegram import DeliveryResult, TelegramClient
from retrain_assets_tests.support.telegram_api import (
    BODY_429,
    BODY_500,
    CHAT_ID,
    OK_BODY,
    SEND_PATH,
    TOKEN,
    FakeTime,
    api_url,
    assert_no_token,
    assert_result_clean,
    client_records,
    closed_port,
    make_client,
    record_texts,
    sent_payloads,
)


def test_ok_sends_exactly_one_request_with_the_expected_payload(httpserver: HTTPServer) -> None:
    httpserver.expect_request(SEND_PATH, method="POST").respond_with_json(OK_BODY)

    result = make_client(api_url(httpserver)).send_message("<b>retrain</b> done &amp; promoted")

    assert result == DeliveryResult(delivered=True, attempts=1, status=200, detail="ok")
    assert len(httpserver.log) == 1
    request, _ = httpserver.log[0]
    assert request.path == SEND_PATH
    assert request.mimetype == "application/json"
    assert sent_payloads(httpserver) == [
        {
            "chat_id": CHAT_ID,
            "text": "<b>retrain</b> done &amp; promoted",
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
    ]


def test_429_waits_retry_after_then_delivers(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(SEND_PATH, method="POST").respond_with_json(
        BODY_429, status=429
    )
    httpserver.expect_ordered_request(SEND_PATH, method="POST").respond_with_json(OK_BODY)
    waits: list[float] = []

    result = make_client(api_url(httpserver), sleep=waits.append).send_message("hello")

    assert result.delivered is True
    assert result.attempts == 2
    assert result.status == 200
    assert len(httpserver.log) == 2
    assert waits == [1.0]  # exactly retry_after, no backoff/jitter added
    assert [p["text"] for p in sent_payloads(httpserver)] == ["hello", "hello"]


def test_429_retry_after_is_capped(httpserver: HTTPServer) -> None:
    body = {**BODY_429, "parameters": {"retry_after": 600}}
    httpserver.expect_ordered_request(SEND_PATH).respond_with_json(body, status=429)
    httpserver.expect_ordered_request(SEND_PATH).respond_with_json(OK_BODY)
    fake = FakeTime()

    client = fake.client(api_url(httpserver), budget_s=30.0, max_retry_after_s=2.0)
    result = client.send_message("hello")

    assert result.delivered is True
    assert fake.sleeps == [2.0]


def test_429_longer_than_the_budget_gives_up_without_sleeping(httpserver: HTTPServer) -> None:
    body = {**BODY_429, "parameters": {"retry_after": 10}}
    httpserver.expect_request(SEND_PATH).respond_with_json(body, status=429)
    fake = FakeTime()

    client = fake.client(api_url(httpserver), budget_s=5.0)
    result = client.send_message("hello")

    assert result.delivered is False
    assert result.attempts == 1
    assert result.status == 429
    assert fake.sleeps == []
    assert "budget" in result.detail and "Too Many Requests" in result.detail


def test_always_500_gives_up_within_the_budget(httpserver: HTTPServer) -> None:
    httpserver.expect_request(SEND_PATH).respond_with_json(BODY_500, status=500)
    budget = 2.0

    client = make_client(api_url(httpserver), budget_s=budget, backoff_s=0.5, max_attempts=10)
    started = time.monotonic()
    result = client.send_message("hello")
    elapsed = time.monotonic() - started

    assert result.delivered is False
    assert result.status == 500
    assert "HTTP 500" in result.detail and "budget" in result.detail
    assert 2 <= result.attempts < 10  # it did retry, and the budget (not the cap) stopped it
    assert result.attempts == len(httpserver.log)
    assert elapsed < budget + 0.5


def test_max_attempts_bounds_retries_with_growing_backoff(httpserver: HTTPServer) -> None:
    httpserver.expect_request(SEND_PATH).respond_with_json(BODY_500, status=500)
    fake = FakeTime()

    client = fake.client(api_url(httpserver), budget_s=1_000.0, backoff_s=1.0, max_attempts=3)
    result = client.send_message("hello")

    assert result.delivered is False
    assert result.attempts == 3
    assert len(httpserver.log) == 3
    assert "3 attempts" in result.detail
    assert len(fake.sleeps) == 2
    assert 1.0 <= fake.sleeps[0] <= 1.1  # backoff_s plus at most 10 % jitter
    assert 2.0 <= fake.sleeps[1] <= 2.2


def test_never_sleeps_past_the_budget(httpserver: HTTPServer) -> None:
    httpserver.expect_request(SEND_PATH).respond_with_json(BODY_500, status=500)
    fake = FakeTime()
    started = fake.now

    client = fake.client(api_url(httpserver), budget_s=1.0, backoff_s=0.3, max_attempts=50)
    result = client.send_message("hello")

    assert result.delivered is False
    assert fake.now - started < 1.0
    assert result.attempts == len(fake.sleeps) + 1 == len(httpserver.log)


def test_5xx_with_html_body_is_retried_then_delivered(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(SEND_PATH).respond_with_data(
        "<html>bad gateway</html>", status=502, content_type="text/html"
    )
    httpserver.expect_ordered_request(SEND_PATH).respond_with_json(OK_BODY)

    result = make_client(api_url(httpserver), sleep=lambda _s: None).send_message("hello")

    assert result == DeliveryResult(delivered=True, attempts=2, status=200, detail="ok")


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (401, "Unauthorized"),
        (400, "Bad Request: chat not found"),
        (403, "Forbidden: bot was blocked by the user"),
        (404, "Not Found"),
    ],
)
def test_client_errors_are_not_retried(
    httpserver: HTTPServer, status: int, description: str
) -> None:
    body = {"ok": False, "error_code": status, "description": description}
    httpserver.expect_request(SEND_PATH).respond_with_json(body, status=status)
    waits: list[float] = []

    result = make_client(api_url(httpserver), sleep=waits.append).send_message("hello")

    assert result == DeliveryResult(
        delivered=False, attempts=1, status=status, detail=f"HTTP {status}: {description}"
    )
    assert len(httpserver.log) == 1
    assert waits == []


def test_200_without_json_is_not_counted_as_delivered(httpserver: HTTPServer) -> None:
    httpserver.expect_request(SEND_PATH).respond_with_data("<html>captive portal</html>")

    result = make_client(api_url(httpserver)).send_message("hello")

    assert result.delivered is False
    assert result.status == 200
    assert result.attempts == 1  # a retry could post the message twice
    assert "unexpected response body" in result.detail


def test_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(f"http://127.0.0.1:{closed_port()}", budget_s=2.0, max_attempts=3)

    result = client.send_message("hello")

    assert result.delivered is False
    assert result.status is None
    assert result.attempts == 3
    assert "connection error" in result.detail
    assert_result_clean(result)
    assert_no_token(*record_texts(client_records(caplog)))


def test_read_timeout_gives_up_within_the_budget(hanging_server: HTTPServer) -> None:
    budget = 1.0
    client = make_client(
        api_url(hanging_server), read_timeout_s=0.3, budget_s=budget, backoff_s=0.1
    )

    started = time.monotonic()
    result = client.send_message("hello")
    elapsed = time.monotonic() - started

    assert result.delivered is False
    assert result.status is None
    assert result.attempts >= 2  # timeouts are retried
    assert "timeout" in result.detail
    assert elapsed < budget + 0.5
    assert_result_clean(result)


def test_request_timeout_is_shrunk_to_the_remaining_budget(hanging_server: HTTPServer) -> None:
    # read_timeout_s alone would block for 10 s; the 0.5 s budget must win.
    client = make_client(api_url(hanging_server), read_timeout_s=10.0, budget_s=0.5)

    started = time.monotonic()
    result = client.send_message("hello")
    elapsed = time.monotonic() - started

    assert result.delivered is False
    assert result.attempts == 1
    assert elapsed < 1.0


def test_unexpected_exception_never_escapes() -> None:
    class ExplodingSession(requests.Session):
        def post(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
            raise RuntimeError(f"kaboom while posting to {url!s}")

    client = TelegramClient(TOKEN, CHAT_ID, "http://127.0.0.1:9", session=ExplodingSession())

    result = client.send_message("hello")

    assert result.delivered is False
    assert result.attempts == 1
    assert "RuntimeError" in result.detail and "kaboom" in result.detail
    assert_result_clean(result)


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Answers 200 with its headers at once, then its body one byte every 0.2 s: each byte
    arrives well within any read timeout, so only a budget on the whole reply stops it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                body = b'{"ok": true, "result": {}}' + b" " * 200
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(body))  # fmt: skip
                for byte in body:
                    if stop.wait(0.2):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def test_a_trickling_reply_cannot_outlast_the_budget(trickling_server: str) -> None:
    budget = 1.5
    client = make_client(trickling_server, read_timeout_s=1.0, budget_s=budget)
    started = time.monotonic()
    result = client.send_message("hello")
    elapsed = time.monotonic() - started
    assert result.delivered is False
    assert "did not complete in time" in result.detail
    assert elapsed < budget + 1.0  # the body alone would take 45 s
    assert_result_clean(result)
