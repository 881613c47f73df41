"""A small Telegram Bot API client (``sendMessage`` only) built on ``requests``.

It deliberately knows nothing about Dagster, so it can be tested against a local HTTP server and
reused by any caller. Two guarantees matter to callers:

* ``TelegramClient.send_message`` never raises and never takes longer than ``budget_s``: a
  notification must not fail or stall a retraining run.
* The bot token never leaks. It is part of the request URL, and requests/urllib3 copy that URL
  into exception messages and DEBUG log records, so everything this module returns or logs is
  scrubbed, and a logging filter scrubs urllib3's own records.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from retrain_assets.telegram.html import cut, fit_message
from retrain_assets.telegram.redact import install_log_scrubber, scrub
from retrain_assets.telegram.replies import Attempt, interpret

DEFAULT_API_URL = "https://api.telegram.org"  # TELEGRAM_API_URL's default
_MAX_DETAIL_CHARS = 300
# Telegram's own tokens have a ~35 character secret part; a very short one would make the
# "secret part alone" redaction hit innocent text.
_MIN_SECRET_PART_CHARS = 8

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    attempts: int
    status: int | None  # last HTTP status seen, None if no response ever arrived
    detail: str  # short human text; never contains the token


class _Progress:
    """Counters that survive an unexpected exception half-way through a send."""

    def __init__(self) -> None:
        self.attempts = 0
        self.status: int | None = None


class TelegramClient:
    """Sends messages to one chat through the Telegram Bot API.

    Not meant to be shared between threads when using the default session (requests.Session is
    not guaranteed thread-safe); create one client per thread or pass a session per client.
    """

    def __init__(
        self,
        token: str,
        chat_id: str,
        api_url: str = DEFAULT_API_URL,
        *,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 10.0,
        budget_s: float = 30.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 20.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Configuration errors are raised here, loudly (messages never include the token);
        # only send_message promises never to raise.
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if budget_s <= 0 or connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("budget_s and the timeouts must be > 0")
        if backoff_s < 0 or max_retry_after_s < 0:
            raise ValueError("backoff_s and max_retry_after_s must be >= 0")

        self._token = token
        self._chat_id = chat_id
        self._api_url = api_url.rstrip("/")
        self._url = f"{self._api_url}/bot{token}/sendMessage"
        self._connect_timeout_s = float(connect_timeout_s)
        self._read_timeout_s = float(read_timeout_s)
        self._budget_s = float(budget_s)
        self._max_attempts = int(max_attempts)
        self._backoff_s = float(backoff_s)
        self._max_retry_after_s = float(max_retry_after_s)
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._sleep = sleep
        self._clock = clock

        # Also hide the secret part alone ("<bot id>:<secret>"): the bot id is public, the rest
        # is what must not leak, whatever way a message happens to split the token.
        secret_part = token.partition(":")[2]
        secrets = [token]
        if len(secret_part) >= _MIN_SECRET_PART_CHARS:
            secrets.append(secret_part)
        self._secrets: tuple[str, ...] = tuple(s for s in secrets if s)
        install_log_scrubber(*self._secrets)

    def __repr__(self) -> str:
        return self._scrub(f"TelegramClient(chat_id={self._chat_id!r}, api_url={self._api_url!r})")

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    # -- public -------------------------------------------------------------------------------

    def send_message(
        self, text: str, *, parse_mode: str = "HTML", disable_web_page_preview: bool = True
    ) -> DeliveryResult:
        """Send ``text`` to the configured chat. Never raises; the outcome is in the result."""
        progress = _Progress()
        try:
            return self._send(text, parse_mode, disable_web_page_preview, progress)
        except Exception as exc:  # the contract: a notification must never break the caller
            detail = self._short(f"unexpected error: {type(exc).__name__}: {exc}")
            _log.warning("Telegram message not delivered: %s", detail)
            return DeliveryResult(False, progress.attempts, progress.status, detail)

    # -- internals ----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return scrub(text, *self._secrets)

    def _short(self, text: str) -> str:
        return cut(self._scrub(text), _MAX_DETAIL_CHARS)

    def _send(
        self,
        text: str,
        parse_mode: str,
        disable_web_page_preview: bool,
        progress: _Progress,
    ) -> DeliveryResult:
        text, mode = fit_message(text, parse_mode)
        payload: dict[str, Any] = {
            "chat_id": self._chat_id,
            "text": text,
            "disable_web_page_preview": disable_web_page_preview,
        }
        if mode:
            payload["parse_mode"] = mode

        # Why not urllib3's Retry or tenacity: Telegram puts retry_after in the JSON body, which
        # urllib3 never reads (it honours the Retry-After header only), and the budget must also
        # shrink each attempt's timeouts and bound a reply that trickles in, which neither does;
        # tenacity's clock cannot be injected either, so budget tests would have to sleep.
        deadline = self._clock() + self._budget_s
        last_detail = "not attempted"
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return self._fail(progress, self._over_budget(last_detail))

            progress.attempts += 1
            attempt = self._attempt(payload, remaining)
            if attempt.status is not None:
                progress.status = attempt.status
            if attempt.delivered:
                _log.debug("Telegram message delivered after %d attempt(s)", progress.attempts)
                return DeliveryResult(True, progress.attempts, progress.status, "ok")

            last_detail = attempt.detail
            if not attempt.retry:
                return self._fail(progress, last_detail)
            if progress.attempts >= self._max_attempts:
                return self._fail(
                    progress, f"gave up after {progress.attempts} attempts: {last_detail}"
                )

            wait = attempt.wait_s
            if wait is None:
                wait = self._backoff(progress.attempts)
            if self._clock() + wait >= deadline:
                # Sleeping would eat the rest of the budget and leave no time to try again.
                return self._fail(progress, self._over_budget(last_detail))
            _log.info(
                "Telegram sendMessage attempt %d/%d failed (%s); retrying in %.2f s",
                progress.attempts,
                self._max_attempts,
                self._short(last_detail),
                wait,
            )
            self._sleep(wait)

    def _over_budget(self, last_detail: str) -> str:
        return f"gave up after {self._budget_s} s budget: {last_detail}"

    def _fail(self, progress: _Progress, detail: str) -> DeliveryResult:
        detail = self._short(detail)
        _log.warning(
            "Telegram message not delivered after %d attempt(s): %s", progress.attempts, detail
        )
        return DeliveryResult(False, progress.attempts, progress.status, detail)

    def _backoff(self, attempts: int) -> float:
        base = self._backoff_s * (2 ** (attempts - 1))
        # A little jitter so that several runs failing together do not retry in lockstep.
        return base + random.uniform(0.0, 0.1 * base)

    def _attempt(self, payload: dict[str, Any], remaining: float) -> Attempt:
        # Shrink the timeouts so that a single slow request cannot overrun the whole budget.
        timeout = (min(self._connect_timeout_s, remaining), min(self._read_timeout_s, remaining))
        outcome: dict[str, Any] = {}

        def post() -> None:
            try:
                outcome["response"] = self._session.post(
                    self._url,
                    json=payload,
                    timeout=timeout,
                    # The Bot API never redirects; following one would turn the POST into a GET.
                    allow_redirects=False,
                )
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc

        # The read timeout bounds each wait for a byte, not the whole reply: a server that
        # trickles its body would hold a request for as long as it likes. The request runs in
        # a daemon thread the budget waits for; a reply still arriving is abandoned (the thread
        # ends with its socket, and never keeps the process alive).
        worker = threading.Thread(target=post, name="telegram-sendMessage", daemon=True)
        worker.start()
        worker.join(remaining)
        if worker.is_alive():
            return Attempt(False, False, None, "timeout: the reply did not complete in time")
        try:
            if "error" in outcome:
                raise outcome["error"]
        except requests.Timeout as exc:  # before ConnectionError: ConnectTimeout is both
            return Attempt(False, True, None, self._describe_exception("timeout", exc))
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            return Attempt(False, True, None, self._describe_exception("connection error", exc))
        except requests.RequestException as exc:
            # Invalid URL, missing schema and the like: retrying cannot help.
            return Attempt(False, False, None, self._describe_exception("request error", exc))
        return interpret(outcome["response"], self._max_retry_after_s)

    def _describe_exception(self, label: str, exc: BaseException) -> str:
        # requests wraps urllib3's MaxRetryError, whose text repeats the URL; its `reason`
        # ("Connection refused", "Read timed out") is the useful part.
        inner_reason = getattr(exc.args[0], "reason", None) if exc.args else None
        reason: object = inner_reason if inner_reason is not None else exc
        return self._short(f"{label}: {reason}")
