"""What one Bot API reply means for a send: delivered, retry (and after how long), or give up."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Attempt:
    """One sendMessage attempt: delivered, worth retrying (after a server-imposed wait), or not."""

    delivered: bool
    retry: bool
    status: int | None
    detail: str
    wait_s: float | None = None  # a wait imposed by the server (429 retry_after)


def interpret(response: requests.Response, max_retry_after_s: float) -> Attempt:
    status = response.status_code
    body = _json_object(response)
    description = body.get("description")
    if not isinstance(description, str) or not description:
        description = response.reason or "no description"

    if 200 <= status < 300:
        if body.get("ok") is True:
            return Attempt(True, False, status, "ok")
        # Telegram always answers JSON; anything else (a captive proxy page?) is not a
        # confirmed delivery, and retrying might post the message twice.
        return Attempt(False, False, status, f"HTTP {status}: unexpected response body")

    detail = f"HTTP {status}: {description}"
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    if status == 429:
        retry_after = _number(parameters.get("retry_after"))
        if retry_after is None:
            retry_after = _number(response.headers.get("Retry-After"))
        wait = None
        if retry_after is not None:
            wait = min(max(retry_after, 0.0), max_retry_after_s)
        return Attempt(False, True, status, detail, wait)
    if status >= 500:
        return Attempt(False, True, status, detail)
    migrate_to = parameters.get("migrate_to_chat_id")
    if migrate_to is not None:
        # A group upgraded to a supergroup: the operator must update the configured chat id.
        detail = f"{detail} (migrate_to_chat_id={migrate_to})"
    return Attempt(False, False, status, detail)


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except Exception:  # JSONDecodeError, wrong charset, ...: treat as "no JSON body"
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: object) -> float | None:
    """A finite number from a JSON value or header, else None (NaN would break sleep())."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
