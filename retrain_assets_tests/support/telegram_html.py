"""What Telegram accepts as HTML: a checker for the messages the service and its client send."""

import re

_TAG_RE = re.compile(r"<(/?)([a-z][a-z0-9-]*)(?:\s[^<>]*)?>")
_ENTITY_RE = re.compile(r"&(?:amp|lt|gt|quot|#[0-9]+|#x[0-9a-fA-F]+);")


def assert_valid_telegram_html(html: str) -> None:
    """Tags properly nested and closed, no partial tag, every '&' starts a whole entity."""
    stack: list[str] = []
    for match in _TAG_RE.finditer(html):
        closing, name = match.group(1) == "/", match.group(2)
        if closing:
            assert stack and stack[-1] == name, f"unbalanced </{name}> in {html[-200:]!r}"
            stack.pop()
        else:
            stack.append(name)
    assert stack == [], f"unclosed tags {stack} in {html[-200:]!r}"
    outside_tags = _TAG_RE.sub("", html)
    assert "<" not in outside_tags and ">" not in outside_tags, "partial tag"
    for amp in re.finditer("&", outside_tags):
        assert _ENTITY_RE.match(outside_tags, amp.start()), (
            f"broken entity near {outside_tags[amp.start() : amp.start() + 12]!r}"
        )
