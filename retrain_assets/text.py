"""Text for people: the first line of an error, cut to a length that fits a message."""


def first_line(error: BaseException | str, limit: int = 500) -> str:
    """The first non-empty line of an error's text (its type's name if it has none)."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"
