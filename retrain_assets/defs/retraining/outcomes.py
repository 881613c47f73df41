"""Day outcomes as run tags (filterable in the Runs page), and the failure naming failed days."""

from collections import Counter

import dagster as dg

from retrain_assets.artifacts import DayRecord

OUTCOME_TAG = "retrain_assets/outcome"
OUTCOMES_TAG = "retrain_assets/outcomes"
# The run's headline outcome is its most serious day's.
SEVERITY = ("failed", "blocked", "skipped", "deployed", "superseded", "unchanged")


class DaysFailedError(dg.Failure):
    """Some days of the run failed; every other day ended as it would have alone."""


def outcome_tags(records: list[DayRecord]) -> dict[str, str]:
    counts = Counter(r.outcome for r in records)
    if not counts:
        return {}
    headline = next(o for o in SEVERITY if counts[o])
    summary = " ".join(f"{o}:{counts[o]}" for o in SEVERITY if counts[o])
    return {OUTCOME_TAG: headline, OUTCOMES_TAG: summary}


def days_failed(records: list[DayRecord], total: int) -> DaysFailedError | None:
    """The run's failure when some of its `total` days failed: which, where and why."""
    failed = [r for r in records if r.outcome == "failed"]
    if not failed:
        return None
    return DaysFailedError(
        description=f"{len(failed)} of {total} day(s) failed: "
        + "; ".join(f"{r.day} at {r.stage}: {r.reason}" for r in failed[:10])
        + (" …" if len(failed) > 10 else ""),
        metadata={
            "failed_days": [r.day for r in failed],
            "outcomes": outcome_tags(records).get(OUTCOMES_TAG, ""),
        },
    )
