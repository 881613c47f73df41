"""The window trained_model reads comes from the partition mapping the asset graph declares."""

import dagster as dg

from retrain_assets.defs.partitions import daily_partitions, days_between, window_of
from retrain_assets.defs.retraining.train import trained_model
from retrain_assets_tests.conftest import TEST_WINDOW_DAYS


def test_window_lists_days_oldest_first_and_clips_at_the_start_date() -> None:
    assert TEST_WINDOW_DAYS == 5
    assert window_of("2026-03-05") == days_between("2026-03-01", "2026-03-05")
    assert window_of("2026-01-03") == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert window_of("2026-01-01") == ["2026-01-01"]


def test_window_is_the_declared_dependency_of_trained_model() -> None:
    (dep,) = trained_model.deps
    assert dep.asset_key == dg.AssetKey("raw_dataset")
    upstream = dep.partition_mapping.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.subset_with_partition_keys(["2026-03-05"]),
        daily_partitions,
        daily_partitions,
    )
    assert sorted(upstream.partitions_subset.get_partition_keys()) == window_of("2026-03-05")
