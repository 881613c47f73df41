"""Judging a day's candidate against the model live before it: one verdict a day.

No Dagster here: the evaluation asset hands in the registry snapshot and the live model, and
gets back one verdict a day. The same rule decides whether the day runs alone or in a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from retrain_assets.ml.gate import GateDecision, champion_is_fair, compare, decide_gate, unseen_by
from retrain_assets.ml.info import ModelInfo
from retrain_assets.ml.metrics import Metrics, evaluate_rows
from retrain_assets.ml.window import DAY_COLUMN
from retrain_assets.registry import DeployResult, RegistrySnapshot
from retrain_assets.serving import PublishedModel
from retrain_assets.text import first_line

# The model live at some point of a run is a published version like any other (its card and
# loaded pipeline); a candidate a run made live carries its info in place of the card.
LiveModel = PublishedModel


@dataclass(frozen=True)
class Champion:
    """The live model that judged a candidate, and its metrics on the rows both were scored on."""

    version: str
    metrics: Metrics

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "metrics": self.metrics.as_dict()}

    @classmethod
    def from_dict(cls, facts: Mapping[str, Any]) -> Champion:
        return cls(facts["version"], Metrics(**facts["metrics"]))


@dataclass(frozen=True)
class Verdict:
    """One day's evaluation: the metrics, the judge, the gate, and what deploying will do."""

    day: str
    metrics: Metrics
    champion: Champion | None  # when a fair live model judged
    champion_note: str
    live_version: str | None  # the model live before this day, fair judge or not
    gate: GateDecision
    plan: DeployResult | None  # None when the gate blocks the deploy, or not planned yet

    @property
    def outcome(self) -> str:
        return self.plan.event if self.plan else "blocked"

    @classmethod
    def from_dict(cls, facts: Mapping[str, Any]) -> Verdict:
        """A verdict as the day's evaluation record stores it (as_dict)."""
        champion, plan = facts.get("champion"), facts.get("plan")
        return cls(
            day=facts["partition"],
            metrics=Metrics(**facts["metrics"]),
            champion=Champion.from_dict(champion) if champion else None,
            champion_note=facts.get("champion_note") or "",
            live_version=facts.get("live_version"),
            gate=GateDecision.from_dict(facts["gate"]),
            plan=DeployResult(**plan) if plan else None,
        )

    def with_plan(self, snapshot: RegistrySnapshot, published: ModelInfo) -> Verdict:
        """What deploying `published` (the candidate, or its refit) does, if the gate passed."""
        if not self.gate.passed:
            return self
        plan = snapshot.plan(
            sha256=published.sha256,
            features=published.features,
            estimator=published.estimator,
            partition=self.day,
            source=published.source,
        )
        return replace(self, plan=plan)

    def as_dict(self) -> dict[str, Any]:
        return {
            "partition": self.day,
            "metrics": self.metrics.as_dict(),
            "champion": self.champion.as_dict() if self.champion else None,
            "champion_note": self.champion_note,
            "live_version": self.live_version,
            "gate": self.gate.as_dict(),
            "plan": asdict(self.plan) if self.plan else None,
        }


def judge(
    day: str,
    candidate: Pipeline,
    info: ModelInfo,
    holdout: pd.DataFrame,
    *,
    live: LiveModel | None,
    snapshot: RegistrySnapshot,
    target: str,
    threshold: float,
    max_regression: float,
    min_holdout_rows: int = 0,
) -> Verdict:
    """Evaluate a day's candidate and gate it against the live model; `with_plan` then plans
    the deploy of what will be published.

    Days are judged one after another, each after the day before was deployed, so `live` and
    `snapshot` are the registry as the previous day left it, whatever launched the days.
    """
    features = info.features
    metrics, candidate_right = evaluate_rows(candidate, holdout, features, target)
    live_card = {**live.card, "version": live.version} if live is not None else None
    fair, note = champion_is_fair(live_card, features, info.classes, info.source)
    champion, comparison = None, None
    if fair and live is not None:
        fit_end = str(live.card.fit_end_day)
        rows = unseen_by(fit_end, holdout[DAY_COLUMN])
        if not rows.any():
            note = (
                f"live model {live.version} was trained on data up to {fit_end}, which covers "
                "this whole holdout: not compared (the threshold alone decides)"
            )
        else:
            try:
                # In its own feature order (a model from before features were sorted has
                # another).
                champion_metrics, live_right = evaluate_rows(
                    live.pipeline, holdout[rows], live.card.features, target
                )
            except (ValueError, TypeError) as exc:  # e.g. labels changed type since
                why = first_line(exc, limit=200)
                note = f"live model {live.version} cannot score these rows ({why}); not compared"
            else:
                comparison = compare(live.version, candidate_right[rows], live_right)
                champion = Champion(live.version, champion_metrics)
                note = (
                    f"live model {live.version} compared on the {comparison.rows} holdout rows "
                    f"after its training end ({fit_end})"
                )
    gate = decide_gate(
        metrics.accuracy,
        threshold,
        max_regression,
        n_holdout=metrics.n_holdout,
        min_holdout_rows=min_holdout_rows,
        comparison=comparison,
        uncompared="no live model yet" if live_card is None else f"not compared: {note}",
    )
    return Verdict(day, metrics, champion, note, snapshot.live_version, gate, None)
