"""Telegram hooks on the retraining op: what the run decided, one message per run.

The hooks gather facts (each day's outcome record, the registry, the evaluation); the wording
is in messages.py. Delivery never fails or stalls a run: the client has a bounded budget and
never raises.
"""

from dataclasses import replace

import dagster as dg

from retrain_assets.artifacts import DayRecord
from retrain_assets.defs.notifications.messages import (
    batch_message,
    blocked_message,
    deployed_message,
    failed_message,
    late_data_message,
    with_alert,
)
from retrain_assets.defs.partitions import days_between
from retrain_assets.defs.resources import TelegramResource
from retrain_assets.defs.retraining.outcomes import OUTCOME_TAG, DaysFailedError
from retrain_assets.ml.judge import Verdict
from retrain_assets.telegram import scrub
from retrain_assets.text import first_line


def _run_days(context: dg.HookContext) -> list[str]:
    run = context.instance.get_run_by_id(context.run_id)
    tags = run.tags if run else {}
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return days_between(start, end) if start and end else []


def _records(context: dg.HookContext, days: list[str]) -> list[DayRecord]:
    """This run's outcome of each of its days, reasons scrubbed of the bot token."""
    store, token = context.resources.retrain.store(), context.resources.telegram.bot_token or ""
    found = [store.read_outcome(day) for day in days]
    return [
        replace(r, reason=scrub(r.reason, token))
        for r in found
        if r is not None and r.run_id == context.run_id
    ]


def send(log: dg.DagsterLogManager, telegram: TelegramResource, text: str | None) -> None:
    """Deliver one message within the client's budget; never raises."""
    if text is None:
        return
    if not telegram.configured:
        log.info("Telegram not configured (TELEGRAM_BOT_TOKEN/TELEGRAM_CHAT_ID): no message")
        return
    client = telegram.client()
    try:
        result = client.send_message(text)
    finally:
        client.close()
    if result.delivered:
        log.info(f"Telegram message delivered ({result.attempts} attempt(s))")
    else:
        log.warning(f"Telegram message not delivered: {result.detail}")


def _send(context: dg.HookContext, text: str | None) -> None:
    send(context.log, context.resources.telegram, text)


def _day_message(context: dg.HookContext, record: DayRecord) -> str | None:
    """The message for a one-day run: the outcome's, with the watch's alert in front."""
    if record.repeated:  # decided, and announced, by an earlier run
        context.log.info(f"{record.day}: {record.reason}: no Telegram message")
        return None
    retrain = context.resources.retrain
    return with_alert(
        _outcome_message(context, record),
        model=retrain.model_name,
        alert=record.alert,
        link=context.resources.telegram.run_link(context.run_id),
    )


def _outcome_message(context: dg.HookContext, record: DayRecord) -> str | None:
    """The message for a day's outcome, or None when the live model did not change."""
    retrain, telegram = context.resources.retrain, context.resources.telegram
    registry, link = retrain.registry(), telegram.run_link(context.run_id)
    live = registry.live_version()
    if record.outcome == "failed":
        return failed_message(
            model=retrain.model_name,
            asset=record.stage,
            error=record.reason,
            link=link,
        )
    if record.outcome == "blocked":
        gate = Verdict.from_dict(retrain.store().read_evaluation(record.day)).gate
        return blocked_message(
            model=retrain.model_name,
            partition=record.day,
            reason=gate.reason,
            live_version=live,
            link=link,
        )
    if record.outcome == "deployed" and record.version:
        verdict = Verdict.from_dict(retrain.store().read_evaluation(record.day))
        gate = verdict.gate
        card = registry.card(record.version)
        event = next(
            (
                e
                for e in reversed(registry.history())
                if e.get("run_id") == context.run_id and e.get("version") == record.version
            ),
            {},
        )
        return deployed_message(
            model=retrain.model_name,
            old_version=event.get("previous"),
            new_version=record.version,
            partition=record.day,
            accuracy=gate.accuracy,
            threshold=gate.threshold,
            champion_version=gate.champion_version,
            champion_accuracy=gate.champion_accuracy,
            rows=card.fit_rows or 0,
            link=link,
            compared_rows=gate.compared_rows,
            candidate_compared=gate.candidate_accuracy_compared,
            refit=card.refit,
            uncompared=verdict.champion_note or "no fair live model to compare",
        )
    late = record.outcome == "skipped" and record.reason.startswith("no data for")
    if late and retrain.late_data_alert:  # RETRAIN_LATE_DATA_ALERT: a late file, not a failure
        return late_data_message(
            model=retrain.model_name, partition=record.day, reason=record.reason, link=link
        )
    # superseded, unchanged or skipped: the live model did not change.
    context.log.info(f"{record.day}: {record.outcome}, live model unchanged: no Telegram message")
    return None


def _report(context: dg.HookContext) -> str | None:
    days = _run_days(context)
    records = _records(context, days)
    if len(days) == 1:
        return _day_message(context, records[0]) if records else None
    retrain = context.resources.retrain
    return batch_message(
        model=retrain.model_name,
        days=days,
        records=records,
        live_version=retrain.registry().live_version(),
        link=context.resources.telegram.run_link(context.run_id),
    )


@dg.success_hook(name="telegram_on_success", required_resource_keys={"retrain", "telegram"})
def telegram_on_success(context: dg.HookContext) -> None:
    _send(context, _report(context))


@dg.failure_hook(name="telegram_on_failure", required_resource_keys={"retrain", "telegram"})
def telegram_on_failure(context: dg.HookContext) -> None:
    if isinstance(context.op_exception, DaysFailedError):
        _send(context, _report(context))
        return
    # A crash outside any one day (storage, resources, a killed worker): name the op.
    context.instance.add_run_tags(context.run_id, {OUTCOME_TAG: "failed"})
    telegram = context.resources.telegram
    error = first_line(context.op_exception or "unknown error")
    _send(
        context,
        failed_message(
            model=context.resources.retrain.model_name,
            asset=context.op.name,
            error=scrub(error, telegram.bot_token or ""),
            link=telegram.run_link(context.run_id),
        ),
    )


def notification_hooks() -> set[dg.HookDefinition]:
    return {telegram_on_success, telegram_on_failure}
