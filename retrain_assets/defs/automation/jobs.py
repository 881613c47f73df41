"""retrain_job: the five assets and the check, daily-partitioned, in process."""

import dagster as dg

from retrain_assets.defs.partitions import daily_partitions
from retrain_assets.defs.retraining.ingest import GROUP

# Runs carry this tag; dagster.yaml lets one such run execute at a time. The `retrain` pool
# does the same for every job, the UI's implicit asset job included; the tag also holds on an
# instance whose pool limit was never set.
LANE_TAG = {"retrain_assets/lane": "retrain"}

# A one-day run takes seconds to minutes: an hour means its worker is gone or hung. Set on the
# schedule's one-day requests only; batches fall under run_monitoring.max_runtime_seconds.
DAILY_RUN_TAGS = {"dagster/max_runtime": "3600"}

retrain_job = dg.define_asset_job(
    name="retrain_job",
    selection=dg.AssetSelection.groups(GROUP),  # the five assets and the check
    partitions_def=daily_partitions,
    # In-process: the multiprocess executor spends seconds per run starting processes, far
    # more than a day's work here. Definitions sets the same default for every other job.
    executor_def=dg.in_process_executor,
    tags=LANE_TAG,
    description="Ingest, watch the live model, train, evaluate, gate and deploy one day, or a "
    "range of days in order.",
)
