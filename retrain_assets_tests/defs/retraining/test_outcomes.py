"""defs/retraining/outcomes.py: day outcomes as run tags; the failure naming failed days."""

from retrain_assets.artifacts import DayRecord
from retrain_assets.defs.retraining.outcomes import (
    OUTCOME_TAG,
    OUTCOMES_TAG,
    DaysFailedError,
    days_failed,
    outcome_tags,
)


def record(day: str, outcome: str, reason: str = "why") -> DayRecord:
    return DayRecord(day, "run", outcome, "trained_model", reason)


def test_the_run_tag_is_its_most_serious_day_and_the_summary_counts_every_day() -> None:
    records = [
        record("2026-03-01", "deployed"),
        record("2026-03-02", "blocked"),
        record("2026-03-03", "deployed"),
        record("2026-03-04", "superseded"),
    ]
    assert outcome_tags(records) == {
        OUTCOME_TAG: "blocked",
        OUTCOMES_TAG: "blocked:1 deployed:2 superseded:1",
    }
    assert outcome_tags([]) == {}


def test_a_run_without_failed_days_has_no_failure() -> None:
    assert (
        days_failed([record("2026-03-01", "blocked"), record("2026-03-02", "skipped")], 2) is None
    )


def test_the_failure_names_each_failed_day_where_and_why_and_counts_all_days() -> None:
    records = [record("2026-03-01", "deployed")] + [
        record(f"2026-03-{d:02d}", "failed", f"bad file {d}") for d in range(2, 15)
    ]
    failure = days_failed(records, 14)
    assert isinstance(failure, DaysFailedError)
    assert failure.description.startswith("13 of 14 day(s) failed: 2026-03-02 at trained_model")
    assert "bad file 2" in failure.description and failure.description.endswith(" …")
    assert "2026-03-12" not in failure.description  # ten named, the rest counted
    assert failure.metadata["failed_days"].value == [f"2026-03-{d:02d}" for d in range(2, 15)]
    assert failure.metadata["outcomes"].value == "failed:13 deployed:1"
