"""Telegram delivery without Dagster: the Bot API client, token scrubbing, the length limit."""

from retrain_assets.telegram.client import DeliveryResult, TelegramClient
from retrain_assets.telegram.html import MAX_MESSAGE_CHARS, TRUNCATION_MARKER
from retrain_assets.telegram.redact import scrub

__all__ = [
    "MAX_MESSAGE_CHARS",
    "TRUNCATION_MARKER",
    "DeliveryResult",
    "TelegramClient",
    "scrub",
]
