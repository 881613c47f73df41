"""Tests for retrain_assets.telegram against a real HTTP server on 127.0.0.1.

Nothing in requests is mocked: every test talks HTTP to pytest-httpserver (or to a closed port).
Only time is injected where a test would otherwise have to wait for real.
"""

from __future__ import annotations

import html
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from retrain_assets.telegram import (
    MAX_MESSAGE_CHARS,
    TRUNCATION_MARKER,
    DeliveryResult,
    TelegramClient,
    scrub,
)
from retrain_assets.telegram.redact import _SecretScrubFilter

TOKEN = "123456:SECRET-TOKEN-abc"
SECRET_PART = "SECRET-TOKEN-abc"
# Every way the token could show up in a leaked string.
TOKEN_FORMS = (TOKEN, quote(TOKEN, safe=""), quote(TOKEN), SECRET_PART)
CHAT_ID = "-1001234567890"
SEND_PATH = f"/bot{TOKEN}/sendMessage"

OK_BODY = {"ok": True, "result": {"message_id": 42, "chat": {"id": -1001234567890}}}
BODY_429 = {
    "ok": False,
    "error_code": 429,
    "description": "Too Many Requests: retry after 1",
    "parameters": {"retry_after": 1},
}
BODY_401 = {"ok": False, "error_code": 401, "description": "Unauthorized"}
BODY_500 = {"ok": False, "error_code": 500, "description": "Internal Server Error"}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


class FakeTime:
    """A clock whose sleep() advances it instantly and records each wait."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def api_url(server: HTTPServer) -> str:
    # Trailing slash on purpose: the client must not produce "//bot...".
    return f"http://127.0.0.1:{server.port}/"


def make_client(url: str, **overrides: Any) -> TelegramClient:
    options: dict[str, Any] = {
        "connect_timeout_s": 1.0,
        "read_timeout_s": 2.0,
        "budget_s": 5.0,
        "backoff_s": 0.01,
        "max_attempts": 5,
    }
    options.update(overrides)
    return TelegramClient(TOKEN, CHAT_ID, url, **options)


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sent_payloads(server: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data(as_text=True)) for request, _ in server.log]


def assert_no_token(*texts: str) -> None:
    for text in texts:
        for form in TOKEN_FORMS:
            assert form.lower() not in text.lower(), f"token leaked in: {text!r}"


def assert_result_clean(result: DeliveryResult) -> None:
    assert_no_token(repr(result), result.detail)


# The test server's own access log (werkzeug) prints the path it received, token included; that
# is the far side of the wire (Telegram, in production), not something the client can control.
_SERVER_SIDE_LOGGERS = ("werkzeug", "pytest_httpserver")


def client_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if not r.name.startswith(_SERVER_SIDE_LOGGERS)]


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    # getMessage() is what users see; format() also renders exc_text/stack_info.
    return [text for r in records for text in (r.getMessage(), formatter.format(r))]


def long_html(min_chars: int) -> str:
    chunk = (
        '<b>Model <i>v2 &amp; "friends"</i></b> accuracy &lt; 0.9 &#39;ok&#39; '
        '<a href="https://example.com/run?id=1&amp;tab=logs">run log</a>\n'
        '<pre><code class="language-python">x = a &lt; b &amp;&amp; c</code></pre>\n'
        "<u>under</u> <s>gone</s> <code>y&gt;0</code> plain text here.\n"
    )
    text = ""
    while len(text) < min_chars:
        text += chunk
    return text


# ---------------------------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------------------------


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

    client = make_client(
        api_url(httpserver),
        budget_s=30.0,
        max_retry_after_s=2.0,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    result = client.send_message("hello")

    assert result.delivered is True
    assert fake.sleeps == [2.0]


def test_429_longer_than_the_budget_gives_up_without_sleeping(httpserver: HTTPServer) -> None:
    body = {**BODY_429, "parameters": {"retry_after": 10}}
    httpserver.expect_request(SEND_PATH).respond_with_json(body, status=429)
    fake = FakeTime()

    client = make_client(api_url(httpserver), budget_s=5.0, sleep=fake.sleep, clock=fake.clock)
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

    client = make_client(
        api_url(httpserver),
        budget_s=1_000.0,
        backoff_s=1.0,
        max_attempts=3,
        sleep=fake.sleep,
        clock=fake.clock,
    )
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

    client = make_client(
        api_url(httpserver),
        budget_s=1.0,
        backoff_s=0.3,
        max_attempts=50,
        sleep=fake.sleep,
        clock=fake.clock,
    )
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


@pytest.fixture
def hanging_server() -> Iterator[HTTPServer]:
    """A server whose sendMessage never answers in time (until the test ends)."""
    release = threading.Event()

    def handler(_request: Request) -> Response:
        release.wait(timeout=10)
        return Response(json.dumps(OK_BODY), status=200, content_type="application/json")

    # Threaded and private to the test, so parked requests block neither each other nor the
    # shared `httpserver` used by other tests.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(SEND_PATH).respond_with_handler(handler)
    server.start()
    try:
        yield server
    finally:
        release.set()
        server.clear()
        server.stop()


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


# ---------------------------------------------------------------------------------------------
# token never leaks
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# scrub
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# truncation
# ---------------------------------------------------------------------------------------------


def test_send_message_leaves_a_text_within_the_limit_alone(httpserver: HTTPServer) -> None:
    httpserver.expect_request(SEND_PATH).respond_with_json(OK_BODY)
    client = make_client(api_url(httpserver))
    exact = "<b>x</b>" + "y" * (MAX_MESSAGE_CHARS - 8)
    assert client.send_message(exact).delivered
    (payload,) = sent_payloads(httpserver)
    assert payload["text"] == exact and payload["parse_mode"] == "HTML"


def test_send_message_sends_over_long_html_as_its_plain_text_cut(httpserver: HTTPServer) -> None:
    # The service's messages always fit (their fields are bounded); another caller's over-long
    # HTML still arrives: as plain text, cut, since a cut through markup would be rejected.
    httpserver.expect_request(SEND_PATH).respond_with_json(OK_BODY)
    text = long_html(20_000)
    assert len(text) >= 20_000

    result = make_client(api_url(httpserver)).send_message(text)

    assert result.delivered is True
    (payload,) = sent_payloads(httpserver)
    sent = payload["text"]
    assert "parse_mode" not in payload
    assert len(sent) == MAX_MESSAGE_CHARS and sent.endswith(TRUNCATION_MARKER)
    plain = html.unescape(re.sub(r"<[^<>]*>", "", text))
    assert plain.startswith(sent[: -len(TRUNCATION_MARKER)])
    assert "<b>" not in sent and "&amp;" not in sent and 'Model v2 & "friends"' in sent


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
