"""defs/notifications/messages.py: every message escaped, bounded and true, without a run."""

from retrain_assets.artifacts import DayRecord
from retrain_assets.defs.notifications.messages import (
    batch_message,
    blocked_message,
    deployed_message,
    failed_message,
    late_data_message,
    rolled_back_message,
    with_alert,
)
from retrain_assets.telegram import MAX_MESSAGE_CHARS
from retrain_assets_tests.support.inprocess import UI
from retrain_assets_tests.support.telegram_html import assert_valid_telegram_html


def test_every_message_at_its_longest_fits_telegram_and_stays_valid_html() -> None:
    # Each field bounded once escaped: no message needs cutting, so its markup is never cut.
    huge = "&<" * 5_000
    link = "http://dagster.internal:3000/runs/" + "&" * 80  # 500 characters once escaped
    common = {"model": huge[:100], "link": link}
    records = [
        DayRecord(f"2026-03-{d:02d}", "r", outcome, "x", huge, alert=huge)
        for d in range(1, 29)
        for outcome in ("failed", "blocked")
    ]
    texts = [
        deployed_message(
            **common, old_version=huge, new_version=huge, partition=huge, accuracy=0.9,
            threshold=0.8, champion_version=None, champion_accuracy=None, rows=10**9,
            uncompared=huge,
        ),
        deployed_message(
            **common, old_version=huge, new_version=huge, partition=huge, accuracy=0.9,
            threshold=0.8, champion_version=huge, champion_accuracy=0.9, rows=10**9,
            compared_rows=10**9, candidate_compared=0.9, refit=True,
        ),
        with_alert(
            blocked_message(**common, partition=huge, reason=huge, live_version=huge),
            model=huge[:100], alert=huge, link=link,
        ),
        rolled_back_message(
            **common, old_version=huge, new_version=huge, partition=huge, reason=huge
        ),
        failed_message(**common, asset=huge, error=huge),
        late_data_message(**common, partition=huge, reason=huge),
        with_alert(None, model=huge[:100], alert=huge, link=link),
        batch_message(**common, days=[huge, huge], records=records, live_version=huge),
    ]  # fmt: skip
    for text in texts:
        assert text is not None and len(text) <= MAX_MESSAGE_CHARS, len(text or "")
        assert_valid_telegram_html(text)
        assert text.endswith("Open the run in Dagster</a>")
    too_long = link + "&" * 100
    assert "href" not in failed_message(model="m", asset="a", error="e", link=too_long)


def test_message_functions_escape_and_truncate() -> None:
    hostile = "<script>&amp;"
    text = deployed_message(
        model=hostile,
        old_version=None,
        new_version="0.1.0",
        partition="2026-03-01",
        accuracy=0.9,
        threshold=0.8,
        champion_version=None,
        champion_accuracy=None,
        rows=10,
        link=f"{UI}/runs/x?a=<b>",
    )
    assert "&lt;script&gt;&amp;amp;" in text and "<script>" not in text
    assert 'href="http://dagster.internal:3000/runs/x?a=&lt;b&gt;"' in text

    text = blocked_message(
        model="m", partition="2026-03-01", reason="x" * 10_000, live_version="0.1.4", link=None
    )
    assert len(text) <= MAX_MESSAGE_CHARS and "x…\nLive version stays 0.1.4" in text

    text = failed_message(model="m", asset="raw_dataset", error="first line\nsecond", link=None)
    assert "first line" in text and "second" not in text

    days = [f"2026-0{1 + d // 28}-{1 + d % 28:02d}" for d in range(33)]
    records = [
        DayRecord(day, "r", outcome, "x", "why " * 500)
        for day, outcome in zip(days, ["blocked", "failed", "deployed"] * 11, strict=True)
    ]
    text = batch_message(model="m", days=days, records=records, live_version="0.1.9", link=None)
    assert len(text) <= MAX_MESSAGE_CHARS
    assert text.splitlines()[1] == "Deployed 11, blocked 11, failed 11"
    assert text.count("(+1 more)") == 2  # ten days listed, the rest counted


def test_an_alert_travels_alone_or_in_front_and_batches_count_it() -> None:
    alert = "live model 0.1.4 scored 0.7000 on 2026-03-05's 300 labelled row(s) <below>"
    alone = with_alert(None, model="m", alert=alert, link=None)
    assert alone == f"⚠️ <b>m</b>: {alert.replace('<below>', '&lt;below&gt;')}"
    assert with_alert("✅ body", model="m", alert=None, link=None) == "✅ body"
    assert with_alert("✅ body", model="m", alert="x", link=None) == "⚠️ x\n✅ body"
    records = [
        DayRecord(f"2026-03-0{d}", "r", "deployed", "s", "ok", alert=f"a{d}" if d > 3 else None)
        for d in range(1, 9)
    ]
    text = batch_message(model="m", days=[r.day for r in records], records=records,
                         live_version="0.1.8", link=None)  # fmt: skip
    assert "Live model below the threshold on fresh rows on 5 days:\n  a4\n  a5\n  a6\n" in text
    assert "(+2 more)" in text
