"""rollback_job: make a verified earlier version live again, from the launchpad."""

import dagster as dg

from retrain_assets.defs.notifications.hooks import send
from retrain_assets.defs.notifications.messages import rolled_back_message
from retrain_assets.defs.resources import RetrainResource, TelegramResource
from retrain_assets.defs.retraining.deploy import deployed_model_version
from retrain_assets.registry import RegistryError


class RollbackConfig(dg.Config):
    """Which version goes live, and why (recorded in history.jsonl and announced)."""

    version: str = "previous"  # a version string such as 0.1.3, or "previous"
    reason: str = ""


@dg.op(description="Verify a version's checksum, move the live pointer to it, record and announce.")
def rollback_model(
    context: dg.OpExecutionContext,
    config: RollbackConfig,
    retrain: RetrainResource,
    telegram: TelegramResource,
) -> str:
    registry = retrain.registry()
    reason = config.reason or f"rollback_job run {context.run_id}"
    try:
        result = registry.rollback(config.version, run_id=context.run_id, reason=reason)
    except RegistryError as exc:
        raise dg.Failure(description=f"rollback refused: {exc}") from None
    if result.event == "unchanged":
        context.log.info(f"{result.version} is already live: nothing to roll back")
        return result.version
    card = registry.card(result.version)
    # The live model as Dagster shows it: an observation of its day's deployed_model_version.
    context.log_event(
        dg.AssetObservation(
            asset_key=deployed_model_version.key,
            partition=card.partition,
            metadata={
                "outcome": "rolled_back",
                "version": result.version,
                "previous_live_version": result.previous_live or "none",
                "reason": reason,
            },
        )
    )
    context.log.info(f"rolled back {result.previous_live} -> {result.version}: {reason}")
    send(
        context.log,
        telegram,
        rolled_back_message(
            model=retrain.model_name,
            old_version=result.previous_live,
            new_version=result.version,
            partition=card.partition,
            reason=reason,
            link=telegram.run_link(context.run_id),
        ),
    )
    return result.version


@dg.job(
    description="Make a verified version live again (config `version`: a version or "
    "`previous`), record rolled_back in history.jsonl and announce it.",
    tags={"retrain_assets/lane": "retrain"},
)
def rollback_job() -> None:
    rollback_model()
