"""defs/partitions.py: the window from one declared mapping; day-to-day graph edges."""

import datetime as dt

import dagster as dg

from retrain_assets.defs.partitions import days_between, window_mapping, window_of
from retrain_assets.defs.retraining.train import trained_model
from retrain_assets.settings import settings

WINDOW_DAYS = settings().window_days  # the in-process tests' window (conftest.py)


def test_window_lists_days_oldest_first_and_clips_at_the_start_date() -> None:
    first = dt.date(2026, 3, 5) - dt.timedelta(days=WINDOW_DAYS - 1)
    assert window_of("2026-03-05") == days_between(first.isoformat(), "2026-03-05")
    assert window_of("2026-01-03") == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert window_of("2026-01-01") == ["2026-01-01"]


def test_window_is_the_declared_mapping_and_the_graph_edge_is_day_to_day() -> None:
    assert window_mapping.start_offset == -(WINDOW_DAYS - 1)
    assert window_mapping.end_offset == 0
    (dep,) = trained_model.deps
    assert dep.asset_key == dg.AssetKey("raw_dataset")
    assert dep.partition_mapping is None  # identity: a UI selection of N days runs N days
