"""telegram/html.py: Telegram's length limit, through the client and a real HTTP peer."""

from __future__ import annotations

import html
import re

from pytest_httpserver import HTTPServer

from retrain_assets.telegram import MAX_MESSAGE_CHARS, TRUNCATION_MARKER
from retrain_assets.telegram.html import cut, fit_message
from retrain_assets_tests.support.telegram_api import (
    OK_BODY,
    SEND_PATH,
    api_url,
    make_client,
    sent_payloads,
)


def long_html(min_chars: int) -> str:
    chunk = (
        '<b>Model <i>v2 &amp; "friends"</i></b> accuracy &lt; 0.9 &#39;ok&#39; '
        '<a href="https://example.com/run?id=1&amp;tab=logs">run log</a>\n'
        '<pre><code class="language-python">x = a &lt; b &amp;&amp; c</code></pre>\n'
        "<u>under</u> <s>gone</s> <code>y&gt;0</code> plain text here.\n"
    )
    text = ""
    while len(text) < min_chars:
        text += chunk
    return text


def test_send_message_leaves_a_text_within_the_limit_alone(httpserver: HTTPServer) -> None:
    httpserver.expect_request(SEND_PATH).respond_with_json(OK_BODY)
    client = make_client(api_url(httpserver))
    exact = "<b>x</b>" + "y" * (MAX_MESSAGE_CHARS - 8)
    assert client.send_message(exact).delivered
    (payload,) = sent_payloads(httpserver)
    assert payload["text"] == exact and payload["parse_mode"] == "HTML"


def test_send_message_sends_over_long_html_as_its_plain_text_cut(httpserver: HTTPServer) -> None:
    # The service's messages always fit (their fields are bounded); another caller's over-long
    # HTML still arrives: as plain text, cut, since a cut through markup would be rejected.
    httpserver.expect_request(SEND_PATH).respond_with_json(OK_BODY)
    text = long_html(20_000)
    assert len(text) >= 20_000

    result = make_client(api_url(httpserver)).send_message(text)

    assert result.delivered is True
    (payload,) = sent_payloads(httpserver)
    sent = payload["text"]
    assert "parse_mode" not in payload
    assert len(sent) == MAX_MESSAGE_CHARS and sent.endswith(TRUNCATION_MARKER)
    plain = html.unescape(re.sub(r"<[^<>]*>", "", text))
    assert plain.startswith(sent[: -len(TRUNCATION_MARKER)])
    assert "<b>" not in sent and "&amp;" not in sent and 'Model v2 & "friends"' in sent


def test_cut_keeps_a_fitting_text_and_marks_a_cut_one() -> None:
    assert cut("abc", 3) == "abc"
    assert cut("abcdef", 4) == "abc" + TRUNCATION_MARKER
    assert len(cut("x" * 10_000, MAX_MESSAGE_CHARS)) == MAX_MESSAGE_CHARS


def test_fit_message_drops_markup_only_when_it_must_cut() -> None:
    fitting = "<b>a &amp; b</b>"
    assert fit_message(fitting, "HTML") == (fitting, "HTML")
    over = "<b>" + "a &amp; b " * 1_000 + "</b>"
    text, mode = fit_message(over, "HTML")
    assert mode is None and len(text) == MAX_MESSAGE_CHARS
    assert text.startswith("a & b a & b") and "<b>" not in text
    # Plain text over the limit is cut and stays plain.
    assert fit_message("y" * 5_000, None) == (
        "y" * (MAX_MESSAGE_CHARS - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER,
        None,
    )
