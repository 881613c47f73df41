"""Cutting a Telegram HTML message to the API's length limit without breaking its tags."""

from __future__ import annotations

import re

# Telegram rejects longer texts ("message is too long").
MAX_MESSAGE_CHARS = 4096
TRUNCATION_MARKER = "…"


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


def truncate_plain(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit < len(TRUNCATION_MARKER):
        return ""
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
