"""Telegram's message length limit, and what a text over it becomes."""

from __future__ import annotations

import html
import re

# Telegram rejects longer texts ("message is too long").
MAX_MESSAGE_CHARS = 4096
TRUNCATION_MARKER = "…"
_TAG_RE = re.compile(r"<[^<>]*>")


def cut(text: str, limit: int) -> str:
    """`text` itself if it fits in `limit` characters, else its start and the marker."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(TRUNCATION_MARKER), 0)] + TRUNCATION_MARKER


def fit_message(text: str, parse_mode: str | None) -> tuple[str, str | None]:
    """The text and parse mode to send: unchanged when within the limit.

    The service's own messages bound each field so they always fit (notifications/messages.py).
    Any other HTML over the limit is sent as its plain text, cut: a cut through markup would be
    rejected by Telegram ("can't parse entities"), and a message must still arrive.
    """
    if len(text) <= MAX_MESSAGE_CHARS:
        return text, parse_mode
    if parse_mode and parse_mode.upper() == "HTML":
        text, parse_mode = html.unescape(_TAG_RE.sub("", text)), None
    return cut(text, MAX_MESSAGE_CHARS), parse_mode
