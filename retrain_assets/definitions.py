"""The code location: wiring only."""

import dagster as dg

from retrain_assets.defs.automation.jobs import retrain_job
from retrain_assets.defs.automation.rollback import rollback_job
from retrain_assets.defs.automation.schedules import retrain_schedule
from retrain_assets.defs.automation.sensors import new_data_sensor
from retrain_assets.defs.notifications.hooks import notification_hooks
from retrain_assets.defs.resources import RetrainResource, TelegramResource
from retrain_assets.defs.retraining.pipeline import retraining
from retrain_assets.settings import settings

# The Telegram hooks sit on the op itself, not on retrain_job: a Materialize or backfill from
# the asset graph runs as Dagster's implicit asset job, where job hooks would never fire.
ASSETS = [retraining.with_hooks(notification_hooks())]

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[retrain_job, rollback_job],
    schedules=[retrain_schedule],
    sensors=[new_data_sensor],
    resources={
        # Hard-coded from the settings: the launchpad offers no resource config, so a run can
        # neither point at other data or registry directories nor set a second threshold
        # (per-run choices are the op's config: estimator, hyperparameters, the gate).
        "retrain": dg.ResourceDefinition.hardcoded_resource(
            RetrainResource.from_settings(settings()),
            description="Data, storage and registry locations and the gate's defaults, from the "
            "RETRAIN_* settings",
        ),
        "telegram": TelegramResource.from_env(),
    },
    # The default for every job, Dagster's implicit asset job (UI Materialize and backfills)
    # included: the multiprocess executor spent 200 s on a one-day run here, in-process 2-15 s.
    executor=dg.in_process_executor,
)
