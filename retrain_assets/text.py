"""Text for people: an error's first line, cut to fit a message; numbers rounded to read."""

from typing import Any


def first_line(error: BaseException | str, limit: int = 500) -> str:
    """The first non-empty line of an error's text (its type's name if it has none)."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def rounded(metadata: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """The metadata with its floats at `digits` places (0.8991750687442713 -> 0.8992): what the
    UI shows and plots. The exact values stay in storage and on the registry's cards."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in metadata.items()}
