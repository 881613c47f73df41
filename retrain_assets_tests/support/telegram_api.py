"""The Bot API's side of the Telegram tests: the token in every form it could leak in, the
replies Telegram gives, a client with short timeouts, an injected clock, log checks."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any
from urllib.parse import quote

import pytest
from pytest_httpserver import HTTPServer

from retrain_assets.telegram import DeliveryResult, TelegramClient

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

    def client(self, url: str, **overrides: Any) -> TelegramClient:
        """make_client on this clock: waits are recorded, never slept."""
        return make_client(url, sleep=self.sleep, clock=self.clock, **overrides)


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
