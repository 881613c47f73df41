"""The code location: wiring only."""

import dagster as dg

from retrain_assets.assets import (
    accuracy_above_threshold,
    deployed_model_version,
    evaluation_metrics,
    raw_dataset,
    trained_model,
)
from retrain_assets.automation import new_data_sensor, retrain_job, retrain_schedule
from retrain_assets.notifications import notification_hooks
from retrain_assets.resources import RetrainResource, TelegramResource
from retrain_assets.settings import settings

# The Telegram hooks sit on the assets and the check, not on retrain_job: a backfill launched
# from the asset graph runs as Dagster's implicit asset job, where job hooks would never fire.
HOOKS = notification_hooks()
ASSETS = [
    asset.with_hooks(HOOKS)
    for asset in (raw_dataset, trained_model, evaluation_metrics, deployed_model_version)
]
ASSET_CHECKS = [accuracy_above_threshold.with_hooks(HOOKS)]

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=[retrain_job],
    schedules=[retrain_schedule],
    sensors=[new_data_sensor],
    resources={
        "retrain": RetrainResource.from_settings(settings()),
        "telegram": TelegramResource.from_env(),
    },
)
