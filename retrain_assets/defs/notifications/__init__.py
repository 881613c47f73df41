"""Telegram messages about what a run decided: hooks gather facts, messages word them."""
