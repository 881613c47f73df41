"""Watching the live model on each new day's labelled rows, and the automatic rollback.

Its accuracy on the days it served, which earlier version, if any, does clearly better on the
same rows, and the rollback to it.

No Dagster here. "Fresh" means the model never saw the day: it was made for an earlier day (a
backfill of an old day scored by a model made from later data says nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from retrain_assets.ml.judge import LiveModel
from retrain_assets.ml.metrics import Metrics, evaluate
from retrain_assets.registry import ModelRegistry
from retrain_assets.serving import load_from
from retrain_assets.text import first_line

# How many earlier live versions an automatic rollback considers, most recent first.
ROLLBACK_CANDIDATES = 3


@dataclass(frozen=True)
class LiveScore:
    """The live model on one day's rows: metrics, or why it could not be scored."""

    day: str
    version: str | None
    metrics: Metrics | None  # None when not scored
    note: str
    threshold: float
    holdout_accuracy: float | None  # what the version promised on its own holdout

    @property
    def accuracy(self) -> float | None:
        return None if self.metrics is None else self.metrics.accuracy

    @property
    def below_threshold(self) -> bool:
        return self.accuracy is not None and self.accuracy < self.threshold


def fresh_for(model: LiveModel, day: str, rows: pd.DataFrame, target: str) -> str | None:
    """None if `model` can be scored on `day`'s rows, else why not."""
    features = model.card.features
    missing = [f for f in features if f not in set(rows.columns)]
    if missing:
        return f"{model.version} uses features this day lacks: {missing}"
    known = {str(c) for c in model.card.classes or []}
    if known and target in rows.columns:
        new = sorted({str(v) for v in pd.unique(rows[target])} - known)
        if new:
            return f"{model.version} never saw the labels {new[:6]} this day has: labels changed"
    # The model published for day P was fitted and chosen on rows up to P (its holdout is the
    # newest rows of its window): only days after P are fresh for it.
    made_for = model.card.partition
    if not made_for or not made_for < day:
        return f"{model.version} was made from data up to {made_for or '?'}: not fresh for {day}"
    return None


def score_live(
    day: str, live: LiveModel | None, rows: pd.DataFrame, target: str, threshold: float
) -> LiveScore:
    """The live model's metrics on the day's rows, when it is fresh for them."""
    if live is None:
        return LiveScore(day, None, None, "no live model", threshold, None)
    promised = live.card.accuracy
    why_not = fresh_for(live, day, rows, target)
    if why_not:
        return LiveScore(day, live.version, None, why_not, threshold, promised)
    try:
        metrics = evaluate(live.pipeline, rows, live.card.features, target)
    except Exception as exc:  # e.g. labels that changed type: say so, never stall the day
        note = f"{live.version} could not be scored on {day}: {first_line(exc)}"
        return LiveScore(day, live.version, None, note, threshold, promised)
    verdict = "below" if metrics.accuracy < threshold else "at or above"
    note = (
        f"live {live.version} scored {metrics.accuracy:.4f} on {len(rows)} row(s) of {day}, "
        f"{verdict} the threshold {threshold:.4f}"
    )
    return LiveScore(day, live.version, metrics, note, threshold, promised)


def better_version(
    score: LiveScore,
    earlier: Iterable[LiveModel],
    rows: pd.DataFrame,
    target: str,
    margin: float,
) -> tuple[LiveModel, float] | None:
    """The first earlier version (most recent first) that is fresh for the day, reaches the
    threshold and beats the live model by at least `margin` on the same rows; else None."""
    if not score.below_threshold or score.accuracy is None:
        return None
    for model in earlier:
        if fresh_for(model, score.day, rows, target):
            continue
        try:
            accuracy = evaluate(model.pipeline, rows, model.card.features, target).accuracy
        except Exception:  # not comparable on these rows: not a rollback target
            continue
        if accuracy >= score.threshold and accuracy >= score.accuracy + margin:
            return model, accuracy
    return None


@dataclass(frozen=True)
class Watch:
    """What the watch saw on one day, and what it did."""

    score: LiveScore
    rolled_back_to: LiveModel | None = None  # now live, if the watch rolled back
    rollback_accuracy: float | None = None

    @property
    def alert(self) -> str | None:
        """The line Telegram carries when the live model fell below the threshold."""
        if not self.score.below_threshold:
            return None
        promised = self.score.holdout_accuracy
        line = (
            f"live model {self.score.version} scored {self.score.accuracy:.4f} on "
            f"{self.score.day}'s {self.score.metrics.n_holdout} labelled row(s), below the "
            f"threshold {self.score.threshold:.4f}"
            + (f" (its holdout accuracy: {promised:.4f})" if promised is not None else "")
        )
        if self.rolled_back_to:
            line += (
                f"; rolled back to {self.rolled_back_to.version}, which scores "
                f"{self.rollback_accuracy:.4f} on the same rows"
            )
        return line


def earlier_live(registry: ModelRegistry, live_version: str) -> list[LiveModel]:
    """The versions live before `live_version`, most recent first, that load and verify."""
    models = []
    for version in (v for v in registry.went_live() if v != live_version):
        if len(models) == ROLLBACK_CANDIDATES:
            break
        try:
            models.append(load_from(registry, version))
        except Exception:  # pruned or damaged: not a rollback target
            continue
    return models


def watch(
    day: str,
    rows: pd.DataFrame,
    live: LiveModel | None,
    *,
    registry: ModelRegistry,
    target: str,
    threshold: float,
    max_regression: float,
    auto_rollback: bool,
    run_id: str,
) -> Watch:
    """Score the live model on the day's rows; with auto_rollback, make a clearly better earlier
    version live (recorded as rolled_back with the numbers as the reason)."""
    score = score_live(day, live, rows, target, threshold)
    if not (auto_rollback and score.below_threshold and live is not None):
        return Watch(score)
    earlier = earlier_live(registry, live.version)
    better = better_version(score, earlier, rows, target, max_regression)
    if better is None:
        return Watch(score)
    model, accuracy = better
    reason = (
        f"automatic: live {live.version} scored {score.accuracy:.4f} on {day}, below "
        f"{threshold:.4f}; {model.version} scores {accuracy:.4f} on the same rows"
    )
    registry.rollback(model.version, run_id=run_id, reason=reason)
    return Watch(score, model, accuracy)
