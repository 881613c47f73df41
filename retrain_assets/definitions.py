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
from retrain_assets.resources import RetrainResource, TelegramResource
from retrain_assets.settings import settings

defs = dg.Definitions(
    assets=[raw_dataset, trained_model, evaluation_metrics, deployed_model_version],
    asset_checks=[accuracy_above_threshold],
    jobs=[retrain_job],
    schedules=[retrain_schedule],
    sensors=[new_data_sensor],
    resources={
        "retrain": RetrainResource.from_settings(settings()),
        "telegram": TelegramResource.from_env(),
    },
)
