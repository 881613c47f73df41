"""telegram/replies.py: what one Bot API reply means for a send."""

import json

import pytest
import requests

from retrain_assets.telegram.replies import interpret


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    response.headers.update(headers or {})
    return response


def test_ok_is_delivered_and_an_ok_status_without_ok_body_is_not_retried() -> None:
    assert interpret(reply(200, {"ok": True, "result": {}}), 20).delivered
    captive = interpret(reply(200, "<html>proxy login</html>"), 20)
    # Not a confirmed delivery, and retrying might post the message twice.
    assert (captive.delivered, captive.retry) == (False, False)
    assert captive.detail == "HTTP 200: unexpected response body"


def test_429_waits_what_the_body_says_capped_else_the_header() -> None:
    body = {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 7}}
    attempt = interpret(reply(429, body), 20)
    assert (attempt.retry, attempt.wait_s, attempt.status) == (True, 7.0, 429)
    assert attempt.detail == "HTTP 429: Too Many Requests"
    assert interpret(reply(429, {**body, "parameters": {"retry_after": 900}}), 20).wait_s == 20
    assert interpret(reply(429, {"ok": False}, {"Retry-After": "3"}), 20).wait_s == 3.0


@pytest.mark.parametrize("value", ["NaN", "soon", True, None, [1]])
def test_429_with_an_unusable_retry_after_falls_back_to_backoff(value: object) -> None:
    attempt = interpret(reply(429, {"ok": False, "parameters": {"retry_after": value}}), 20)
    assert attempt.retry and attempt.wait_s is None


def test_5xx_is_retried_and_4xx_is_not_and_says_why() -> None:
    assert interpret(reply(502, "<html>bad gateway</html>"), 20).retry
    forbidden = interpret(reply(403, {"ok": False, "description": "bot was blocked"}), 20)
    assert (forbidden.retry, forbidden.detail) == (False, "HTTP 403: bot was blocked")
    moved = interpret(
        reply(400, {"ok": False, "description": "group upgraded",
                    "parameters": {"migrate_to_chat_id": -100123}}),
        20,
    )  # fmt: skip
    assert not moved.retry and moved.detail.endswith("(migrate_to_chat_id=-100123)")
