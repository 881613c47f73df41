"""The deploy gate's rules: when a live model may judge, the paired comparison, the decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from retrain_assets.data.sources import SOURCE_NAMES
from retrain_assets.registry import ModelCard, switched_source

# A regression blocks a deploy only when the evidence for it is significant at this level: an
# exact one-sided McNemar test on the rows that the two models answered differently.
REGRESSION_ALPHA = 0.05


def champion_is_fair(
    champion: Mapping[str, Any] | None,
    features: Sequence[str],
    classes: Sequence[Any] | None = None,
    source: str | None = None,
) -> tuple[bool, str]:
    """Whether the live model may be compared with a candidate at all.

    It must use the same features, know every label the candidate knows, and record where its
    training data ends: it is then scored only on holdout rows after that day (compare_rows).
    """
    if champion is None:
        return False, "no live model"
    card = champion if isinstance(champion, ModelCard) else ModelCard.from_dict(champion)
    if switched_source(card.source, source):
        theirs = SOURCE_NAMES.get(card.source or "", card.source)
        ours = SOURCE_NAMES.get(source or "", source)
        return False, (
            f"live model {card.version} was trained on {theirs}, this data comes "
            f"from {ours}: not compared, and it does not hold back this source's models"
        )
    # As sets: models published before features were sorted list them in file order.
    if sorted(card.features) != sorted(features):
        return False, "live model uses other features"
    if classes is not None and card.classes is not None:
        theirs, ours = {str(c) for c in card.classes}, {str(c) for c in classes}
        if ours - theirs:  # a label the live model never saw; a rare one absent here is fine
            return False, (
                f"live model {card.version} knows the labels {sorted(theirs)[:6]}, "
                f"this window has {sorted(ours)[:6]}: labels changed, not compared"
            )
    if not card.fit_end_day:
        return False, f"live model {card.version} does not record its training end"
    return True, f"live model {card.version} is a fair judge"


def unseen_by(fit_end_day: str, days: pd.Series) -> np.ndarray:
    """The holdout rows after a model's training end: neither it nor the candidate saw them."""
    return np.asarray(days.astype(str) > fit_end_day, dtype=bool)


@dataclass(frozen=True)
class Comparison:
    """The candidate and the live model on the same holdout rows, which neither has seen."""

    version: str
    rows: int
    candidate_accuracy: float
    live_accuracy: float
    live_only_right: int  # rows the live model got right and the candidate wrong
    candidate_only_right: int

    @property
    def p_value(self) -> float:
        """How likely the live model wins this many of the disputed rows by chance alone."""
        disputed = self.live_only_right + self.candidate_only_right
        if not disputed:
            return 1.0
        return float(binomtest(self.live_only_right, disputed, 0.5, alternative="greater").pvalue)


def compare(version: str, candidate_right: np.ndarray, live_right: np.ndarray) -> Comparison:
    rows = len(candidate_right)
    return Comparison(
        version,
        rows,
        float(candidate_right.mean()) if rows else 0.0,
        float(live_right.mean()) if rows else 0.0,
        int(np.sum(live_right & ~candidate_right)),
        int(np.sum(candidate_right & ~live_right)),
    )


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    # "passed", "not_enough_evidence", "below_threshold" or "regression_vs_champion"
    rule: str
    reason: str
    accuracy: float
    threshold: float
    champion_version: str | None
    champion_accuracy: float | None  # on the compared rows
    max_regression: float
    n_holdout: int = 0
    min_holdout_rows: int = 0
    compared_rows: int | None = None
    candidate_accuracy_compared: float | None = None
    p_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, facts: Mapping[str, Any]) -> GateDecision:
        """A decision as an evaluation record stores it (as_dict)."""
        return cls(**facts)


def decide_gate(
    accuracy: float,
    threshold: float,
    max_regression: float,
    *,
    n_holdout: int,
    min_holdout_rows: int = 0,
    comparison: Comparison | None = None,
    uncompared: str = "no fair live model to compare",
) -> GateDecision:
    """Pass iff the holdout is big enough, accuracy >= threshold, and the candidate is not
    significantly worse than a fair live model by more than the margin on rows neither saw."""
    c = comparison

    def result(passed: bool, rule: str, reason: str) -> GateDecision:
        return GateDecision(
            passed,
            rule,
            reason,
            accuracy,
            threshold,
            c.version if c else None,
            c.live_accuracy if c else None,
            max_regression,
            n_holdout,
            min_holdout_rows,
            c.rows if c else None,
            c.candidate_accuracy if c else None,
            round(c.p_value, 4) if c else None,
        )

    if n_holdout < min_holdout_rows:
        return result(
            False,
            "not_enough_evidence",
            f"not enough evidence: {n_holdout} holdout rows, fewer than the "
            f"{min_holdout_rows} the gate needs (RETRAIN_MIN_HOLDOUT_ROWS); nothing is "
            "deployed until the window holds more rows",
        )
    if accuracy < threshold:
        return result(
            False, "below_threshold", f"accuracy {accuracy:.4f} < threshold {threshold:.4f}"
        )
    passed = f"accuracy {accuracy:.4f} >= threshold {threshold:.4f}"
    if c is None:
        return result(True, "passed", f"{passed} ({uncompared})")
    on_rows = f"on the same {c.rows} new rows"
    gap = c.live_accuracy - c.candidate_accuracy
    # Accuracies are ratios of counts: 0.82 vs 0.92 - 0.1 (0.8200000000000001 in floating
    # point) is equal, and equal passes.
    if gap > max_regression + 1e-9 and c.p_value < REGRESSION_ALPHA:
        return result(
            False,
            "regression_vs_champion",
            f"accuracy {c.candidate_accuracy:.4f} vs live {c.version} {c.live_accuracy:.4f} "
            f"{on_rows}: {gap:.4f} worse, more than the allowed {max_regression:.4f} "
            f"(p={c.p_value:.3f})",
        )
    if gap <= 0:
        against = (
            f"; candidate {c.candidate_accuracy:.4f} vs live {c.version} "
            f"{c.live_accuracy:.4f} {on_rows}"
        )
    elif gap <= max_regression + 1e-9:
        against = (
            f"; {gap:.4f} below live {c.version} ({c.live_accuracy:.4f}) {on_rows}, "
            f"within the allowed {max_regression:.4f}"
        )
    else:
        against = (
            f"; {gap:.4f} below live {c.version} ({c.live_accuracy:.4f}) {on_rows}, more than "
            f"the allowed {max_regression:.4f} but not a significant regression "
            f"(p={c.p_value:.2f})"
        )
    return result(True, "passed", passed + against)
