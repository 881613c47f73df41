"""ModelInfo: what travels with a model file (how, on which rows, by which code it was fitted)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from retrain_assets.ml.fit import TrainedModel

# The facts a registry card copies from the model's info (the registry adds the rest).
CARD_FIELDS = (
    "estimator",
    "params",
    "features",
    "target",
    "classes",
    "fit_rows",
    "holdout_rows",
    "fit_end_day",
    "holdout_start_day",
    "data_fingerprint",
    "window_days",
    "code_version",
    "refit",
    "source",
    "gate_model_sha256",
)


@dataclass(frozen=True)
class ModelInfo:
    """A trained model's facts, written beside its file (info.json) and onto its card.

    The first twelve mirror TrainedModel's (ml/fit.py), made JSON-safe and without the fitted
    pipeline; the rest is provenance. `of` is the one place that maps the one onto the other.
    """

    estimator: str
    params: dict[str, Any]
    features: list[str]
    classes: list[Any]
    fit_rows: int
    holdout_rows: int
    fit_seconds: float
    fit_end_day: str  # the newest day whose rows it was fitted on
    holdout_start_day: str
    data_fingerprint: str
    window_days: list[str]
    refit: bool  # fitted again on the whole window once the gate passed (RETRAIN_REFIT)
    sha256: str  # of its model file
    partition: str
    target: str
    source: str  # data.sources.source_kind: "demo" or "landing"
    code_version: str
    run_id: str
    days_missing: list[str] = field(default_factory=list)
    days_left_out: list[str] = field(default_factory=list)
    gate_model_sha256: str | None = None  # a published model's: the trained_model file judged

    @classmethod
    def of(cls, model: TrainedModel, sha256: str, **provenance: Any) -> ModelInfo:
        """The facts of `model`, whose file has `sha256`; provenance names the rest."""
        return cls(
            estimator=model.estimator,
            params=json.loads(json.dumps(model.params, default=str)),  # JSON-safe
            features=list(model.features),
            classes=list(model.classes),
            fit_rows=model.fit_rows,
            holdout_rows=model.holdout_rows,
            fit_seconds=round(model.fit_seconds, 4),
            fit_end_day=model.fit_end_day,
            holdout_start_day=model.holdout_start_day,
            data_fingerprint=model.data_fingerprint,
            window_days=list(model.window_days),
            refit=model.refit,
            sha256=sha256,
            **provenance,
        )

    def published_as(self, sha256: str) -> ModelInfo:
        """This model in its published file, which names the working file the gate judged."""
        return replace(self, sha256=sha256, gate_model_sha256=self.sha256)

    def refitted(self, model: TrainedModel, sha256: str) -> ModelInfo:
        """The info of this model's refit on its whole window, which the gate vouched for."""
        refit_facts = replace(
            self,
            classes=list(model.classes),
            fit_rows=model.fit_rows,
            fit_seconds=round(model.fit_seconds, 4),
            fit_end_day=model.fit_end_day,
            refit=True,
        )
        return refit_facts.published_as(sha256)

    def as_dict(self) -> dict[str, Any]:
        facts = asdict(self)
        if facts["gate_model_sha256"] is None:
            del facts["gate_model_sha256"]
        return facts

    def card_facts(self) -> dict[str, Any]:
        facts = self.as_dict()
        return {k: facts[k] for k in CARD_FIELDS if k in facts}
