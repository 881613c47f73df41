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

import functools
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import requests

__all__ = [
    "MAX_MESSAGE_CHARS",
    "TRUNCATION_MARKER",
    "DeliveryResult",
    "TelegramClient",
    "scrub",
    "truncate_html",
]

# Telegram rejects longer texts ("message is too long").
MAX_MESSAGE_CHARS = 4096
TRUNCATION_MARKER = "…"

_REDACTED = "***"
_MAX_DETAIL_CHARS = 300
# Telegram's own tokens have a ~35 character secret part; a very short one would make the
# "secret part alone" redaction hit innocent text.
_MIN_SECRET_PART_CHARS = 8

_log = logging.getLogger(__name__)

# Loggers that may print the request URL. A filter on a parent logger does not apply to records
# created by its children, so every one of them gets its own filter.
_URL_LOGGERS = (
    "urllib3.connectionpool",  # DEBUG '"POST /bot<token>/sendMessage HTTP/1.1" 200', retries
    "urllib3.connection",  # WARNING "Failed to parse headers (url=...)"
    "urllib3.poolmanager",  # INFO "Redirecting <url> -> ..."
    "urllib3.util.retry",  # DEBUG "Incremented Retry for (url=...)"
    __name__,  # belt and braces: our own records are scrubbed before logging anyway
)


# --------------------------------------------------------------------------------------------
# Secret scrubbing
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _scrub_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            # The URL may reach a message raw or percent-encoded (":" -> "%3A"), depending on
            # which layer formatted it.
            forms.update({secret, quote(secret, safe=""), quote(secret), quote_plus(secret)})
    if not forms:
        return None
    # Longest first, so a secret that contains another one is replaced whole.
    alternatives = sorted(forms, key=len, reverse=True)
    # Case-insensitive because percent-encoding may use lower-case hex digits.
    return re.compile("|".join(re.escape(form) for form in alternatives), re.IGNORECASE)


def scrub(text: str, *secrets: str) -> str:
    """Replace every non-empty secret, raw or URL-quoted, in ``text`` by ``***``."""
    if not isinstance(text, str):
        text = str(text)
    pattern = _scrub_pattern(tuple(secrets))
    return text if pattern is None else pattern.sub(_REDACTED, text)


class _SecretScrubFilter(logging.Filter):
    """Rewrites log records so that no registered secret survives formatting.

    Installed on loggers (not handlers) so that it runs before any handler, including ones that
    are added later, such as pytest's caplog or Dagster's log capture.
    """

    # Looked up by attribute rather than isinstance, so a reloaded module still finds it.
    _retrain_assets_secret_scrubber = True

    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def add_secrets(self, *secrets: str) -> None:
        with self._lock:
            # Rebuilt and swapped whole, so filter() can read it without taking the lock.
            merged = dict.fromkeys((*self._secrets, *(s for s in secrets if s)))
            self._secrets = tuple(merged)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        try:
            _scrub_record(record, secrets)
        except Exception:
            # A record we could not clean is dropped: losing a debug line beats leaking a token.
            return False
        return True


def _scrub_record(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    try:
        message = record.getMessage()
    except Exception:
        # Malformed msg/args: logging would print both raw in its error report, so fold them
        # into one scrubbed string.
        record.msg = scrub(f"{record.msg!s} (args: {record.args!r})", *secrets)
        record.args = ()
    else:
        clean = scrub(message, *secrets)
        if clean != message:
            # The token may sit in any argument (or span several), so store the rendered text.
            record.msg, record.args = clean, ()

    if record.exc_info and not record.exc_text:
        # Exception messages from requests/urllib3 carry the URL; render now so we can scrub.
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        clean = scrub(record.exc_text, *secrets)
        if clean != record.exc_text:
            record.exc_text = clean
            # Handlers that render exc_info themselves would otherwise re-expose the raw text;
            # standard formatters print exc_text.
            record.exc_info = None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info, *secrets)


_install_lock = threading.Lock()


def _install_log_scrubber(*secrets: str) -> None:
    """Ensure one scrub filter per URL-printing logger and register ``secrets`` with it."""
    with _install_lock:
        for name in _URL_LOGGERS:
            logger = logging.getLogger(name)
            existing = [
                f for f in logger.filters if getattr(f, "_retrain_assets_secret_scrubber", False)
            ]
            if existing:
                scrubber = existing[0]
            else:
                scrubber = _SecretScrubFilter()
                logger.addFilter(scrubber)
            scrubber.add_secrets(*secrets)  # idempotent: secrets are de-duplicated


# --------------------------------------------------------------------------------------------
# Telegram HTML truncation
# --------------------------------------------------------------------------------------------

# Atomic pieces of Telegram HTML: a whole tag, a whole entity, a run of plain text, or a stray
# "<" / "&" (invalid for Telegram, but it must not break the scan).
_HTML_TOKEN_RE = re.compile(
    r"(?P<tag><[^<>]*>)"
    r"|(?P<entity>&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);)"
    r"|(?P<text>[^<&]+)"
    r"|(?P<char>[<&])"
)
_HTML_TAG_RE = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9-]*)(?:\s[^>]*?)?\s*(/?)\s*>")


def _closing_len(stack: tuple[str, ...]) -> int:
    return sum(len(name) + 3 for name in stack)  # "</" + name + ">"


def _apply_tag(stack: tuple[str, ...], tag: str) -> tuple[tuple[str, ...], bool]:
    """Return the open-tag stack after ``tag`` and whether ``tag`` opened an element."""
    match = _HTML_TAG_RE.fullmatch(tag)
    if match is None:
        return stack, False  # "<>" or similar: opaque, no effect on nesting
    is_closing, name, self_closing = match.group(1) == "/", match.group(2).lower(), match.group(3)
    if is_closing:
        if name in stack:
            # Pop up to the matching opener (tolerates mis-nested input).
            index = len(stack) - 1 - stack[::-1].index(name)
            return stack[:index], False
        return stack, False
    if self_closing:
        return stack, False
    return (*stack, name), True


def truncate_html(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Shorten Telegram-HTML ``text`` to at most ``limit`` characters, keeping it valid.

    The cut never falls inside a tag or an entity, tags left open are closed, and the result ends
    with ``TRUNCATION_MARKER`` (after the closing tags, so it is never inside e.g. a link).
    """
    if len(text) <= limit:
        return text
    if limit < len(TRUNCATION_MARKER):
        return ""
    room = limit - len(TRUNCATION_MARKER)  # for the kept prefix plus the closing tags

    stack: tuple[str, ...] = ()
    cut, cut_stack = 0, stack  # best cut so far: keep text[:cut], then close cut_stack
    for match in _HTML_TOKEN_RE.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == "text":
            free = room - _closing_len(stack) - match.start()
            if free <= 0:
                break
            if free < len(token):
                cut, cut_stack = match.start() + free, stack
                break
            cut, cut_stack = match.end(), stack
            continue

        new_stack, opened = _apply_tag(stack, token) if kind == "tag" else (stack, False)
        if match.end() + _closing_len(new_stack) > room:
            break
        stack = new_stack
        # Never end right after an opening tag: that would leave an empty element like <b></b>.
        if not opened:
            cut, cut_stack = match.end(), stack

    closers = "".join(f"</{name}>" for name in reversed(cut_stack))
    return f"{text[:cut]}{closers}{TRUNCATION_MARKER}"


def _truncate_plain(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit < len(TRUNCATION_MARKER):
        return ""
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    attempts: int
    status: int | None  # last HTTP status seen, None if no response ever arrived
    detail: str  # short human text; never contains the token


@dataclass(frozen=True)
class _Attempt:
    delivered: bool
    retry: bool
    status: int | None
    detail: str
    wait_s: float | None = None  # a wait imposed by the server (429 retry_after)


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
        api_url: str = "https://api.telegram.org",
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
        _install_log_scrubber(*self._secrets)

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
        text = self._scrub(text)
        if len(text) > _MAX_DETAIL_CHARS:
            text = text[: _MAX_DETAIL_CHARS - 1] + TRUNCATION_MARKER
        return text

    def _send(
        self,
        text: str,
        parse_mode: str,
        disable_web_page_preview: bool,
        progress: _Progress,
    ) -> DeliveryResult:
        if parse_mode and parse_mode.upper() == "HTML":
            text = truncate_html(text, MAX_MESSAGE_CHARS)
        else:
            # Closing HTML tags would show up literally in other modes; a plain cut is safer.
            text = _truncate_plain(text, MAX_MESSAGE_CHARS)
        payload: dict[str, Any] = {
            "chat_id": self._chat_id,
            "text": text,
            "parse_mode": parse_mode,
            "disable_web_page_preview": disable_web_page_preview,
        }

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

    def _attempt(self, payload: dict[str, Any], remaining: float) -> _Attempt:
        # Shrink the timeouts so that a single slow request cannot overrun the whole budget.
        timeout = (min(self._connect_timeout_s, remaining), min(self._read_timeout_s, remaining))
        try:
            response = self._session.post(
                self._url,
                json=payload,
                timeout=timeout,
                # The Bot API never redirects; following one would turn the POST into a GET.
                allow_redirects=False,
            )
        except requests.Timeout as exc:  # before ConnectionError: ConnectTimeout is both
            return _Attempt(False, True, None, self._describe_exception("timeout", exc))
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            return _Attempt(False, True, None, self._describe_exception("connection error", exc))
        except requests.RequestException as exc:
            # Invalid URL, missing schema and the like: retrying cannot help.
            return _Attempt(False, False, None, self._describe_exception("request error", exc))
        return self._interpret(response)

    def _describe_exception(self, label: str, exc: BaseException) -> str:
        # requests wraps urllib3's MaxRetryError, whose text repeats the URL; its `reason`
        # ("Connection refused", "Read timed out") is the useful part.
        inner_reason = getattr(exc.args[0], "reason", None) if exc.args else None
        reason: object = inner_reason if inner_reason is not None else exc
        return self._short(f"{label}: {reason}")

    def _interpret(self, response: requests.Response) -> _Attempt:
        status = response.status_code
        body = _json_object(response)
        description = body.get("description")
        if not isinstance(description, str) or not description:
            description = response.reason or "no description"

        if 200 <= status < 300:
            if body.get("ok") is True:
                return _Attempt(True, False, status, "ok")
            # Telegram always answers JSON; anything else (a captive proxy page?) is not a
            # confirmed delivery, and retrying might post the message twice.
            return _Attempt(False, False, status, f"HTTP {status}: unexpected response body")

        detail = f"HTTP {status}: {description}"
        parameters = body.get("parameters")
        parameters = parameters if isinstance(parameters, dict) else {}
        if status == 429:
            retry_after = _number(parameters.get("retry_after"))
            if retry_after is None:
                retry_after = _number(response.headers.get("Retry-After"))
            wait = None
            if retry_after is not None:
                wait = min(max(retry_after, 0.0), self._max_retry_after_s)
            return _Attempt(False, True, status, detail, wait)
        if status >= 500:
            return _Attempt(False, True, status, detail)
        migrate_to = parameters.get("migrate_to_chat_id")
        if migrate_to is not None:
            # A group upgraded to a supergroup: the operator must update the configured chat id.
            detail = f"{detail} (migrate_to_chat_id={migrate_to})"
        return _Attempt(False, False, status, detail)


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
