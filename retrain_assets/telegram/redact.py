"""Keeping the bot token out of text and logs: scrub strings, and filter urllib3's records."""

from __future__ import annotations

import functools
import logging
import re
import threading
from urllib.parse import quote, quote_plus

REDACTED = "***"

# Loggers that may print the request URL. A filter on a parent logger does not apply to records
# created by its children, so every one of them gets its own filter.
_URL_LOGGERS = (
    "urllib3.connectionpool",  # DEBUG '"POST /bot<token>/sendMessage HTTP/1.1" 200', retries
    "urllib3.connection",  # WARNING "Failed to parse headers (url=...)"
    "urllib3.poolmanager",  # INFO "Redirecting <url> -> ..."
    "urllib3.util.retry",  # DEBUG "Incremented Retry for (url=...)"
    "retrain_assets.telegram.client",  # belt and braces: its records are scrubbed already
)


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
    return text if pattern is None else pattern.sub(REDACTED, text)


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


def install_log_scrubber(*secrets: str) -> None:
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
