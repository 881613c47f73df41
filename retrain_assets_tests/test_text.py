"""text.py: an error's first line for a message, and metadata rounded for people."""

from __future__ import annotations

from retrain_assets.text import first_line, rounded


def test_first_line_is_the_first_non_empty_line_cut_to_the_limit() -> None:
    assert first_line(ValueError("\n  bad file a.csv\nTraceback ...")) == "bad file a.csv"
    assert first_line(KeyError()) == "KeyError"  # no text: the error's type names it
    assert first_line("x" * 600, limit=10) == "x" * 9 + "…"
    assert first_line("short", limit=10) == "short"


def test_rounded_rounds_floats_only() -> None:
    metadata = {"accuracy": 0.8991750687442713, "rows": 1234, "day": "2026-03-01", "ok": True}
    assert rounded(metadata) == {"accuracy": 0.8992, "rows": 1234, "day": "2026-03-01", "ok": True}
    assert rounded({"p": 0.123456}, digits=2) == {"p": 0.12}
