"""Telegram messages for what a retrain run decided, sent by hooks on the assets.

Message text is built by plain functions (escaped HTML); the hooks only gather facts from the
registry and the evaluation files, and hand the text to TelegramResource. Delivery never fails or
stalls a run: the client has a bounded budget and never raises.
"""

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterAssetCheckFailedError

from retrain_assets.telegram import scrub, truncate_html

DEPLOY_STEP = "deployed_model_version"
GATE_STEP = "evaluation_metrics_accuracy_above_threshold"


def _e(value: Any) -> str:
    # Telegram's HTML needs <, > and & escaped in text; quotes only inside attributes.
    return html.escape(str(value), quote=False)


def _link(url: str | None) -> str:
    return f'\n<a href="{html.escape(url, quote=True)}">Open the run in Dagster</a>' if url else ""


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
) -> str:
    versus = (
        f"live {_e(champion_version)}: {_pct(champion_accuracy)}"
        if champion_accuracy is not None
        else "no fair live model to compare"
    )
    return truncate_html(
        f"✅ <b>{_e(model)}</b> deployed <b>{_e(old_version or 'none')} → {_e(new_version)}</b>\n"
        f"Day {_e(partition)}, trained on {rows} rows\n"
        f"Accuracy {_pct(accuracy)} (threshold {_pct(threshold)}; {versus})" + _link(link)
    )


def blocked_message(
    *,
    model: str,
    partition: str,
    gate: Mapping[str, Any],
    live_version: str | None,
    link: str | None,
) -> str:
    return truncate_html(
        f"⛔ <b>{_e(model)}</b> not deployed for {_e(partition)}: blocked by the gate\n"
        f"{_e(gate['reason'])}\n"
        f"Live version stays {_e(live_version or 'none (nothing deployed yet)')}" + _link(link)
    )


def failed_message(*, model: str, asset: str, error: str, link: str | None) -> str:
    first_line = (error.strip().splitlines() or ["(no message)"])[0]
    return truncate_html(
        f"❌ <b>{_e(model)}</b> retrain failed at <b>{_e(asset)}</b>\n"
        f"<code>{_e(first_line[:1000])}</code>" + _link(link)
    )


def batch_message(
    *,
    model: str,
    days: Sequence[str],
    history: Sequence[Mapping[str, Any]],
    blocked: Sequence[str],
    live_version: str | None,
    link: str | None,
) -> str:
    deployed = [e for e in history if e["event"] == "deployed"]
    superseded = [e for e in history if e["event"] == "superseded"]
    lines = [
        f"📦 <b>{_e(model)}</b> backfill of {_e(days[0])}..{_e(days[-1])} ({len(days)} days)",
        f"Deployed {len(deployed)}, recorded as superseded {len(superseded)}, "
        f"blocked by the gate {len(blocked)}",
    ]
    if blocked:
        lines.append("Blocked: " + ", ".join(_e(d) for d in blocked))
    lines.append(f"Live version: {_e(live_version or 'none')}")
    return truncate_html("\n".join(lines) + _link(link))


def _asset_of(op_name: str) -> str:
    # Ops of assets are named after their key path joined by "__"; a check op adds its name.
    if op_name == GATE_STEP:
        return "evaluation_metrics (check accuracy_above_threshold)"
    return op_name.replace("__", "/")


def _partition_keys(context: dg.HookContext) -> list[str]:
    run = context.instance.get_run_by_id(context.run_id)
    tags = run.tags if run else {}
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if not (start and end):
        return []
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [(first + dt.timedelta(days=k)).isoformat() for k in range((last - first).days + 1)]


def _send(context: dg.HookContext, text: str) -> None:
    telegram = context.resources.telegram
    if not telegram.configured:
        context.log.info(
            "Telegram not configured (TELEGRAM_BOT_TOKEN/TELEGRAM_CHAT_ID): no message"
        )
        return
    client = telegram.client()
    try:
        result = client.send_message(text)
    finally:
        client.close()
    if result.delivered:
        context.log.info(f"Telegram message delivered ({result.attempts} attempt(s))")
    else:
        context.log.warning(f"Telegram message not delivered: {result.detail}")


def _on_success(context: dg.HookContext) -> None:
    if context.op.name != DEPLOY_STEP:
        return
    retrain, telegram = context.resources.retrain, context.resources.telegram
    registry, store = retrain.registry(), retrain.store()
    run_id = context.run_id
    days = _partition_keys(context)
    history = [e for e in registry.history() if e.get("run_id") == run_id]
    live = (registry.current() or {}).get("version")
    link = telegram.run_link(run_id)
    if len(days) > 1:
        blocked = [d for d in days if not store.read_evaluation(d)["gate"]["passed"]]
        _send(
            context,
            batch_message(
                model=retrain.model_name,
                days=days,
                history=history,
                blocked=blocked,
                live_version=live,
                link=link,
            ),
        )
        return
    deployed = [e for e in history if e["event"] == "deployed"]
    if not deployed:
        # Superseded (an old day) or an identical model already live: nothing changed.
        context.log.info("live model unchanged by this run: no Telegram message")
        return
    event = deployed[-1]
    evaluated = store.read_evaluation(event["partition"])
    gate = evaluated["gate"]
    card = registry.card(event["version"])
    _send(
        context,
        deployed_message(
            model=retrain.model_name,
            old_version=event.get("previous"),
            new_version=event["version"],
            partition=event["partition"],
            accuracy=gate["accuracy"],
            threshold=gate["threshold"],
            champion_version=gate["champion_version"],
            champion_accuracy=gate["champion_accuracy"],
            rows=card["fit_rows"],
            link=link,
        ),
    )


def _on_failure(context: dg.HookContext) -> None:
    retrain, telegram = context.resources.retrain, context.resources.telegram
    link = telegram.run_link(context.run_id)
    days = _partition_keys(context)
    if isinstance(context.op_exception, DagsterAssetCheckFailedError) and len(days) == 1:
        gate = retrain.store().read_evaluation(days[0])["gate"]
        live = (retrain.registry().current() or {}).get("version")
        text = blocked_message(
            model=retrain.model_name, partition=days[0], gate=gate, live_version=live, link=link
        )
    else:
        error = str(context.op_exception) if context.op_exception else "unknown error"
        error = scrub(error, telegram.bot_token or "")
        text = failed_message(
            model=retrain.model_name, asset=_asset_of(context.op.name), error=error, link=link
        )
    _send(context, text)


@dg.success_hook(name="telegram_on_success", required_resource_keys={"retrain", "telegram"})
def telegram_on_success(context: dg.HookContext) -> None:
    _on_success(context)


@dg.failure_hook(name="telegram_on_failure", required_resource_keys={"retrain", "telegram"})
def telegram_on_failure(context: dg.HookContext) -> None:
    _on_failure(context)


def notification_hooks() -> set[dg.HookDefinition]:
    return {telegram_on_success, telegram_on_failure}
