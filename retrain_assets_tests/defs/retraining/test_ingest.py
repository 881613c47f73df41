"""defs/retraining/ingest.py: a day's rows from the landing directory, or why not.

Through in-process runs of the retraining op (raw_dataset): the user's own columns, a bad
file failing its day alone, a missing file as a skip.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain_assets.artifacts import ArtifactStore
from retrain_assets.data.sources import make_source
from retrain_assets.data.validation import NoDataError
from retrain_assets.defs.retraining.ingest import ingest
from retrain_assets_tests.support.inprocess import run_tags, write_demo_days
from retrain_assets_tests.support.service import step_failure


def test_landing_directory_with_own_columns_needs_no_code_change(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_demo_days(landing, [f"2026-04-0{d}" for d in range(1, 6)], target="label")
    (landing / "notes.txt").write_text("not data")
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-04-05")
    assert result.success, result.all_events
    card = service.registry.card(service.registry.current().version)
    assert card["features"] == ["f0", "f1", "f2", "f3", "f4"]
    assert card["window_days"] == [f"2026-04-0{d}" for d in range(1, 6)]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.drop(columns=["label"]), ["missing target column 'label'"]),
        (lambda f: f.assign(f1="red"), ["column 'f1' is not numeric", "'red'"]),
        (lambda f: f.assign(f2=np.nan), ["column 'f2' is entirely empty"]),
        (
            lambda f: f.assign(label=np.where(np.arange(len(f)) == 3, np.nan, f["label"])),
            ["column 'label' has 1 missing label", "row 4"],
        ),
        (lambda f: f.head(3), ["only 3 row(s)", "RETRAIN_MIN_ROWS_PER_DAY"]),
    ],
    ids=["missing-target", "non-numeric", "all-null", "nan-target", "too-few-rows"],
)
def test_bad_landing_file_fails_its_day_and_leaves_registry_untouched(
    make_service, mutate, expected
) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_demo_days(landing, ["2026-04-01", "2026-04-02"])
    service = make_service(data_dir=str(landing), target_column="label")
    assert service.run("2026-04-01").success
    registry_before = {p: p.read_bytes() for p in service.registry.root.rglob("*") if p.is_file()}

    path = landing / "2026-04-02.csv"
    mutate(pd.read_csv(path)).to_csv(path, index=False)
    result = service.run("2026-04-02")

    assert not result.success
    step, message = step_failure(result)
    assert step == "retraining"
    assert "2026-04-02 at raw_dataset" in message and str(path) in message
    record = service.store.read_outcome("2026-04-02")
    assert (record.outcome, record.stage) == ("failed", "raw_dataset")
    assert run_tags(service, result)["retrain_assets/outcome"] == "failed"
    for part in expected:
        assert part in message
    after = {p: p.read_bytes() for p in service.registry.root.rglob("*") if p.is_file()}
    assert after == registry_before


def test_day_without_a_file_is_a_skip_with_its_reason(make_service) -> None:
    service = make_service()
    landing = service.root / "landing"
    write_demo_days(landing, ["2026-03-04"])
    service = make_service(data_dir=str(landing), target_column="label")
    result = service.run("2026-03-05")
    assert result.success
    record = service.store.read_outcome("2026-03-05")
    assert (record.outcome, record.stage) == ("skipped", "raw_dataset")
    assert "no data for 2026-03-05" in record.reason
    assert run_tags(service, result)["retrain_assets/outcome"] == "skipped"
    assert service.registry.current() is None


def test_ingest_stores_the_day_and_drops_a_day_taken_back(tmp_path: Path) -> None:
    # The plain function the asset calls: no run, real files.
    landing = tmp_path / "landing"
    write_demo_days(landing, ["2026-04-01"])
    source = make_source(landing, "label", 10)
    store = ArtifactStore.for_source(tmp_path / "storage", landing)

    frame, metadata = ingest("2026-04-01", source, store, "label")

    assert metadata["dagster/row_count"] == len(frame) == len(store.read_raw("2026-04-01"))
    assert set(metadata["class_balance"]) == {"0", "1"}
    assert metadata["source"] == str(landing / "2026-04-01.csv")
    (landing / "2026-04-01.csv").unlink()  # the file was taken back
    with pytest.raises(NoDataError):
        ingest("2026-04-01", source, store, "label")
    assert store.read_raw("2026-04-01") is None  # no later window trains on it
