"""The deploy gate, and judging a run's days in order, each against the model live before it.

No Dagster here: the evaluation asset hands in the registry snapshot and the live model, and
gets back one verdict a day. The same rule decides whether the day runs alone or in a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from retrain_assets.ml.metrics import evaluate
from retrain_assets.registry import DeployResult, RegistrySnapshot
from retrain_assets.serving import PublishedModel
from retrain_assets.text import first_line


def champion_is_fair(
    champion: Mapping[str, Any] | None,
    features: Sequence[str],
    holdout_start_day: str,
    classes: Sequence[Any] | None = None,
) -> tuple[bool, str]:
    """Whether the live model may judge a candidate on this candidate's holdout.

    It must use the same features, and its training data must end before the holdout starts: a
    live model trained on later days (a backfill of an old day) has seen the holdout.
    """
    if champion is None:
        return False, "no live model"
    # As sets: models published before features were sorted list them in file order.
    if sorted(champion.get("features", [])) != sorted(features):
        return False, "live model uses other features"
    if classes is not None and "classes" in champion:
        theirs, ours = {str(c) for c in champion["classes"]}, {str(c) for c in classes}
        if ours - theirs:  # a label the live model never saw; a rare one absent here is fine
            return False, (
                f"live model {champion.get('version')} knows the labels {sorted(theirs)[:6]}, "
                f"this window has {sorted(ours)[:6]}: labels changed, not compared"
            )
    fit_end = champion.get("fit_end_day") or ""
    if not fit_end:
        return False, f"live model {champion.get('version')} does not record its training end"
    if not fit_end < holdout_start_day:
        return False, (
            f"live model {champion.get('version')} was trained on data up to {fit_end}, "
            f"not before this holdout starts ({holdout_start_day})"
        )
    return True, f"live model {champion.get('version')} is a fair judge"


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    rule: str  # "passed", "below_threshold", "regression_vs_champion"
    reason: str
    accuracy: float
    threshold: float
    champion_version: str | None
    champion_accuracy: float | None
    max_regression: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_gate(
    accuracy: float,
    threshold: float,
    max_regression: float,
    champion_version: str | None = None,
    champion_accuracy: float | None = None,
) -> GateDecision:
    """Pass iff accuracy >= threshold and (no fair champion, or accuracy >= champion - margin)."""

    def result(passed: bool, rule: str, reason: str) -> GateDecision:
        return GateDecision(
            passed,
            rule,
            reason,
            accuracy,
            threshold,
            champion_version,
            champion_accuracy,
            max_regression,
        )

    if accuracy < threshold:
        return result(
            False, "below_threshold", f"accuracy {accuracy:.4f} < threshold {threshold:.4f}"
        )
    # Accuracies are ratios of counts: 0.82 vs 0.92 - 0.1 (0.8200000000000001 in floating
    # point) is equal, and equal passes.
    if champion_accuracy is not None and accuracy < champion_accuracy - max_regression - 1e-9:
        return result(
            False,
            "regression_vs_champion",
            f"accuracy {accuracy:.4f} vs live {champion_version} {champion_accuracy:.4f} "
            f"with max regression {max_regression:.4f}",
        )
    if champion_accuracy is None:
        against = " (no fair live model to compare)"
    elif accuracy >= champion_accuracy:
        against = f"; live {champion_version} scores {champion_accuracy:.4f} on the same rows"
    else:
        against = (
            f"; {champion_accuracy - accuracy:.4f} below live {champion_version} "
            f"({champion_accuracy:.4f}), within the allowed {max_regression:.4f}"
        )
    return result(True, "passed", f"accuracy {accuracy:.4f} >= threshold {threshold:.4f}{against}")


# The model live at some point of a run is a published version like any other (its card and
# loaded pipeline); a candidate a run made live carries its info in place of the card.
LiveModel = PublishedModel


@dataclass(frozen=True)
class Verdict:
    """One day's evaluation: the metrics, the judge, the gate, and what deploying will do."""

    day: str
    metrics: dict[str, Any]
    champion: dict[str, Any] | None  # {"version", "metrics"} when a fair live model judged
    champion_note: str
    live_version: str | None  # the model live before this day, fair judge or not
    gate: GateDecision
    plan: DeployResult | None  # None when the gate blocks the deploy

    @property
    def outcome(self) -> str:
        return self.plan.event if self.plan else "blocked"

    def as_dict(self) -> dict[str, Any]:
        return {
            "partition": self.day,
            "metrics": self.metrics,
            "champion": self.champion,
            "champion_note": self.champion_note,
            "live_version": self.live_version,
            "gate": self.gate.as_dict(),
            "plan": asdict(self.plan) if self.plan else None,
        }


def judge(
    day: str,
    candidate: Pipeline,
    info: Mapping[str, Any],
    holdout: pd.DataFrame,
    *,
    live: LiveModel | None,
    snapshot: RegistrySnapshot,
    target: str,
    threshold: float,
    max_regression: float,
) -> Verdict:
    """Evaluate a day's candidate, gate it against the live model, plan its deploy.

    Days are judged one after another, each after the day before was deployed, so `live` and
    `snapshot` are the registry as the previous day left it, whatever launched the days.
    """
    features: Sequence[str] = info["features"]
    metrics = evaluate(candidate, holdout, features, target)
    live_card = {**live.card, "version": live.version} if live is not None else None
    fair, note = champion_is_fair(
        live_card, features, info["holdout_start_day"], info.get("classes")
    )
    champion = None
    if fair and live is not None:
        try:
            # In its own feature order (a model from before features were sorted has another).
            champion_metrics = evaluate(live.pipeline, holdout, live.card["features"], target)
        except (ValueError, TypeError) as exc:  # e.g. labels changed type since it was trained
            why = first_line(exc, limit=200)
            note = f"live model {live.version} cannot score these rows ({why}); not compared"
        else:
            champion = {"version": live.version, "metrics": champion_metrics}
    gate = decide_gate(
        metrics["accuracy"],
        threshold,
        max_regression,
        champion["version"] if champion else None,
        champion["metrics"]["accuracy"] if champion else None,
    )
    plan = None
    if gate.passed:
        plan = snapshot.plan(
            sha256=info["sha256"],
            features=list(features),
            estimator=info.get("estimator"),
            partition=day,
        )
    return Verdict(day, metrics, champion, note, snapshot.live_version, gate, plan)
