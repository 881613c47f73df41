"""Telegram message text: escaped HTML, rounded for people, within Telegram's length limit.

Every field is bounded once escaped (_e's limit), so each message fits Telegram's 4096
characters by construction and its markup is never cut (a test builds each at its longest).
"""

import html
from collections import Counter
from collections.abc import Sequence
from typing import Any

from retrain_assets.artifacts import DayRecord
from retrain_assets.telegram.html import cut
from retrain_assets.text import first_line

# Lists of days in a batch summary stop here, so a 100-day batch still reads at a glance.
MAX_LISTED_DAYS = 10


# Longest link kept: a cut URL would point somewhere else, so a longer one is left out.
MAX_LINK_CHARS = 500
NAME = 120  # RETRAIN_MODEL_NAME: at most 100 bytes, a few escaped


def _e(value: Any, limit: int = 40) -> str:
    """`value` as Telegram HTML text, at most `limit` characters once escaped, never ending
    inside an entity. Telegram's HTML needs <, > and & escaped in text; quotes only in
    attributes. The default suits names, versions and days."""
    text = html.escape(str(value), quote=False)
    if len(text) <= limit:
        return text
    text = cut(text, limit)
    amp = text.rfind("&")
    return text if amp == -1 or ";" in text[amp:] else text[:amp] + "…"


def _link(url: str | None) -> str:
    href = html.escape(url or "", quote=True)
    if not href or len(href) > MAX_LINK_CHARS:
        return ""
    return f'\n<a href="{href}">Open the run in Dagster</a>'


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def deployed_message(
    *,
    model: str,
    old_version: str | None,
    new_version: str,
    partition: str,
    accuracy: float,
    threshold: float,
    champion_version: str | None,
    champion_accuracy: float | None,
    rows: int,
    link: str | None,
    compared_rows: int | None = None,
    candidate_compared: float | None = None,
    refit: bool = False,
    uncompared: str = "no fair live model to compare",
) -> str:
    if champion_accuracy is None:
        versus = _e(uncompared, 300)
    elif compared_rows is None:
        versus = f"live {_e(champion_version)}: {_pct(champion_accuracy)}"
    else:
        versus = (
            f"on the {compared_rows} newest rows {_pct(candidate_compared)} vs live "
            f"{_e(champion_version)} {_pct(champion_accuracy)}"
        )
    trained = f"{rows} rows, the whole window" if refit else f"{rows} rows"
    return (
        f"✅ <b>{_e(model, NAME)}</b> deployed "
        f"<b>{_e(old_version or 'none')} → {_e(new_version)}</b>\n"
        f"Day {_e(partition)}, trained on {trained}\n"
        f"Accuracy {_pct(accuracy)} (threshold {_pct(threshold)}; {versus})" + _link(link)
    )


def blocked_message(
    *,
    model: str,
    partition: str,
    reason: str,
    live_version: str | None,
    link: str | None,
) -> str:
    return (
        f"⛔ <b>{_e(model, NAME)}</b> not deployed for {_e(partition)}: blocked by the gate\n"
        f"{_e(reason, 600)}\n"
        f"Live version stays {_e(live_version or 'none (nothing deployed yet)', 60)}" + _link(link)
    )


def rolled_back_message(
    *,
    model: str,
    old_version: str | None,
    new_version: str,
    partition: str,
    reason: str,
    link: str | None,
) -> str:
    return (
        f"↩️ <b>{_e(model, NAME)}</b> rolled back <b>{_e(old_version or 'none')} → "
        f"{_e(new_version)}</b>\n"
        f"Version of day {_e(partition)}; {_e(reason, 500)}" + _link(link)
    )


def failed_message(*, model: str, asset: str, error: str, link: str | None) -> str:
    line = first_line(error or "(no message)", limit=1000)
    return (
        f"❌ <b>{_e(model, NAME)}</b> retrain failed at <b>{_e(asset)}</b>\n"
        f"<code>{_e(line, 1000)}</code>" + _link(link)
    )


def late_data_message(*, model: str, partition: str, reason: str, link: str | None) -> str:
    """A day whose file has not landed: said once, kindly, instead of a red run."""
    return (
        f"⏰ <b>{_e(model, NAME)}</b>: no data for {_e(partition)} yet\n{_e(reason, 300)}\n"
        "The day runs as soon as its file lands (new_data_sensor); the live model is unchanged."
        + _link(link)
    )


def alert_message(*, model: str, alert: str, link: str | None) -> str:
    """The live model fell below the threshold on a fresh day (and, opt-in, was rolled back)."""
    return f"⚠️ <b>{_e(model, NAME)}</b>: {_e(alert, 600)}" + _link(link)


def with_alert(
    message: str | None, *, model: str, alert: str | None, link: str | None
) -> str | None:
    """A day's message with the watch's alert in front, or the alert alone."""
    if not alert:
        return message
    if message is None:
        return alert_message(model=model, alert=alert, link=link)
    return f"⚠️ {_e(alert, 600)}\n" + message


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _listed(records: Sequence[DayRecord], with_reason: bool) -> str:
    shown = records[:MAX_LISTED_DAYS]
    more = f" (+{len(records) - MAX_LISTED_DAYS} more)" if len(records) > MAX_LISTED_DAYS else ""
    if with_reason:
        return "".join(f"\n  {_e(r.day)}: {_e(r.reason, 150)}" for r in shown) + more
    return ", ".join(_e(r.day) for r in shown) + more


def batch_message(
    *,
    model: str,
    days: Sequence[str],
    records: Sequence[DayRecord],
    live_version: str | None,
    link: str | None,
) -> str:
    """One summary for a run of several days: every day counted under its one outcome."""
    counts = Counter(r.outcome for r in records)
    repeated = sum(r.repeated for r in records)
    order = ("deployed", "superseded", "unchanged", "blocked", "skipped", "failed")
    counted = ", ".join(f"{o} {counts[o]}" for o in order if counts[o]) or "no day finished"
    lines = [
        f"📦 <b>{_e(model, NAME)}</b> days {_e(days[0])}..{_e(days[-1])} ({_days(len(days))})",
        counted.capitalize() + (f" ({repeated} already decided earlier)" if repeated else ""),
    ]
    blocked = [r for r in records if r.outcome == "blocked"]
    failed = [r for r in records if r.outcome == "failed"]
    if blocked:
        lines.append("Blocked by the gate: " + _listed(blocked, with_reason=False))
    if failed:
        lines.append("Failed:" + _listed(failed, with_reason=True))
    alerts = [r for r in records if r.alert]
    if alerts:
        lines.append(
            f"⚠️ Live model below the threshold on fresh rows on {_days(len(alerts))}:"
            + "".join(f"\n  {_e(r.alert, 300)}" for r in alerts[:3])
            + (f"\n  (+{len(alerts) - 3} more)" if len(alerts) > 3 else "")
        )
    lines.append(f"Live version: {_e(live_version or 'none')}")
    return "\n".join(lines) + _link(link)
