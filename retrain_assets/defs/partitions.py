"""The daily partitions every asset shares, the training window mapping, the backfill policy."""

import dagster as dg

from retrain_assets.settings import settings

SETTINGS = settings()

# end_offset=1: today's partition exists, so a file landing today can be trained on right away.
daily_partitions = dg.DailyPartitionsDefinition(start_date=SETTINGS.start_date, end_offset=1)

# trained_model[D] trains on raw_dataset[D-W+1..D]: the one definition of the training window,
# read through Dagster's own mapping API (window_of). The graph edge itself is day to day (see
# retraining/train.py) so that a UI selection of N days runs exactly those N days.
window_mapping = dg.TimeWindowPartitionMapping(
    start_offset=-(SETTINGS.window_days - 1), end_offset=0
)

# A backfill runs its days in batches instead of a run per day: run start-up costs seconds, a
# day's work far less. Each day still gets its own materialisation, metrics and gate result, and
# is judged against the model live after the day before (ml/gate.py), so a batch decides what
# the same days run one by one decide. Dagster puts raw_dataset in the same run as its
# window-mapped children only when the backfill has fewer days than max_partitions_per_run
# (asset_backfill._get_cant_run_because_of_parent_reason): at 100, a 90-day backfill is one run.
MAX_DAYS_PER_RUN = 100
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_DAYS_PER_RUN)


def window_of(day: str) -> list[str]:
    """The raw_dataset days trained_model[day] learns from, oldest first (from window_mapping)."""
    result = window_mapping.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.subset_with_partition_keys([day]), daily_partitions, daily_partitions
    )
    return sorted(result.partitions_subset.get_partition_keys())


def days_between(first: str, last: str) -> list[str]:
    """Every daily partition from first to last, inclusive."""
    return list(daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))
