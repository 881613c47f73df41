"""The registry's records, typed: ModelCard (a version's card.json) and LivePointer (current.json).

A ModelCard still reads as the JSON object it was written as.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True, eq=False)
class ModelCard(Mapping[str, Any]):
    """The facts the service reads from a card, each with its one default for cards written
    before it was recorded; `card["metrics"]["accuracy"]` and every other key still read as
    the JSON has them (the README's serving example does)."""

    version: str
    partition: str
    sha256: str
    features: list[str]
    classes: list[Any] | None = None  # None: not recorded
    estimator: str | None = None
    source: str | None = None  # "demo" or "landing"
    fit_end_day: str | None = None  # None: it cannot judge fairly (no leakage check possible)
    fit_rows: int | None = None
    refit: bool = False
    target: str | None = None
    accuracy: float | None = None  # metrics.accuracy: what the gate measured at deploy
    facts: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, facts: Mapping[str, Any]) -> ModelCard:
        """A card from its JSON object; shapes were checked where it was read (files.py)."""
        metrics = facts.get("metrics")
        accuracy = metrics.get("accuracy") if isinstance(metrics, Mapping) else None
        classes = facts.get("classes")
        return cls(
            version=str(facts.get("version", "")),
            partition=str(facts.get("partition", "")),
            sha256=str(facts.get("sha256", "")),
            features=list(facts.get("features") or []),
            classes=list(classes) if isinstance(classes, list) else None,
            estimator=facts.get("estimator"),
            source=facts.get("source"),
            fit_end_day=facts.get("fit_end_day"),
            fit_rows=facts.get("fit_rows"),
            refit=bool(facts.get("refit")),
            target=facts.get("target"),
            accuracy=accuracy if isinstance(accuracy, int | float) else None,
            facts=dict(facts),
        )

    def __getitem__(self, key: str) -> Any:
        return self.facts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.facts)

    def __len__(self) -> int:
        return len(self.facts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.facts) == dict(other)

    __hash__ = None  # type: ignore[assignment]  # a mapping: compared by content


@dataclass(frozen=True)
class LivePointer:
    """current.json: the live version, the day and run that made it live, and the one before."""

    version: str
    partition: str | None = None
    sha256: str | None = None
    run_id: str | None = None
    deployed_at: str | None = None
    event: str = "deployed"  # or rolled_back, repaired
    previous: str | None = None
    # Set by a rollback: the newest day decided, so that no backfill of an older day undoes it.
    decided_through: str | None = None

    @property
    def newest_decided(self) -> str | None:
        return self.decided_through or self.partition

    @classmethod
    def from_dict(cls, facts: Mapping[str, Any]) -> LivePointer:
        """The pointer from its JSON object; shapes were checked where it was read (files.py)."""
        return cls(**{f.name: facts.get(f.name, f.default) for f in fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        facts = asdict(self)
        if facts["decided_through"] is None:
            del facts["decided_through"]
        return facts
