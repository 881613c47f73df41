"""evaluation_metrics and its gate, the check accuracy_above_threshold."""

from dataclasses import dataclass, replace
from typing import Any

import dagster as dg

from retrain_assets.artifacts import ArtifactStore
from retrain_assets.defs.partitions import daily_partitions
from retrain_assets.defs.retraining.ingest import GROUP
from retrain_assets.defs.retraining.train import Candidate, publishable, trained_model
from retrain_assets.ml.judge import LiveModel, Verdict, judge
from retrain_assets.ml.metrics import Metrics
from retrain_assets.registry import ModelCard, ModelRegistry
from retrain_assets.serving import load_from
from retrain_assets.text import rounded

evaluation_metrics = dg.AssetSpec(
    "evaluation_metrics",
    group_name=GROUP,
    kinds={"scikitlearn"},
    skippable=True,
    deps=[trained_model],
    description="Candidate metrics on the holdout, and the live model's on the same rows when "
    "it is a fair judge (same features, trained on data before the holdout).",
)

CHECK_NAME = "accuracy_above_threshold"
accuracy_above_threshold = dg.AssetCheckSpec(
    CHECK_NAME,
    asset=evaluation_metrics.key,
    blocking=True,
    partitions_def=daily_partitions,  # one result per day (NOTES.md: partitioned checks)
    description="Passes iff accuracy >= threshold and the candidate is not worse than a fair "
    "live model by more than RETRAIN_MAX_REGRESSION. A failure stops the day's deploy.",
)


@dataclass(frozen=True)
class GateSettings:
    """The gate's rules for a run: the RETRAIN_* settings, or the launchpad's overrides."""

    threshold: float
    max_regression: float
    min_holdout_rows: int
    refit: bool

    @property
    def key(self) -> str:
        """What a decision depends on besides the candidate (re-runs repeat a decision)."""
        return f"{self.threshold}:{self.max_regression}:{self.min_holdout_rows}:{self.refit}"


class LiveTracker:
    """The live model as the run goes: loaded once, then the candidate each deploy made live."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self.live: LiveModel | None = None

    def current(self, version: str | None) -> tuple[LiveModel | None, str | None]:
        """The live `version` loaded, or None and why it cannot judge (damaged or unloadable
        file)."""
        if version is None:
            self.live = None
        elif self.live is None or self.live.version != version:
            try:
                self.live = load_from(self.registry, version)
            except Exception as exc:  # a damaged live model must not stall every later day
                self.live = None
                return None, f"live model {version} could not be loaded ({exc}); not compared"
        return self.live, None

    def deployed(self, version: str, candidate: Candidate, metrics: Metrics) -> None:
        # As its registry card has it.
        card = {**candidate.info.as_dict(), "version": version, "metrics": metrics.as_dict()}
        self.live = LiveModel(version, ModelCard.from_dict(card), candidate.model.pipeline)


def evaluate_day(
    day: str,
    candidate: Candidate,
    *,
    registry: ModelRegistry,
    tracker: LiveTracker,
    store: ArtifactStore,
    target: str,
    gate: GateSettings,
    run_id: str,
) -> tuple[Verdict, Candidate]:
    """Judge the day's candidate against the registry as the day before left it; if it passes,
    plan the deploy of what will be published (its refit on the whole window, RETRAIN_REFIT)."""
    snapshot = registry.snapshot()
    live, problem = tracker.current(snapshot.live_version)
    verdict = judge(
        day,
        candidate.model.pipeline,
        candidate.info,
        candidate.holdout,
        live=live,
        snapshot=snapshot,
        target=target,
        threshold=gate.threshold,
        max_regression=gate.max_regression,
        min_holdout_rows=gate.min_holdout_rows,
    )
    if problem:
        verdict = replace(verdict, champion_note=problem)
    if verdict.gate.passed:
        candidate = publishable(candidate, target, refit_window=gate.refit)
    verdict = verdict.with_plan(snapshot, candidate.info)
    store.write_evaluation(
        day, {**verdict.as_dict(), "model_sha256": candidate.info.sha256, "run_id": run_id}
    )
    return verdict, candidate


def evaluation_metadata(verdict: Verdict, threshold: float) -> dict[str, Any]:
    metrics, gate = verdict.metrics, verdict.gate
    metadata: dict[str, Any] = {
        "accuracy": metrics.accuracy,
        "balanced_accuracy": metrics.balanced_accuracy,
        "f1_macro": metrics.f1_macro,
        "n_holdout": metrics.n_holdout,
        "threshold": threshold,
        "gate_passed": gate.passed,
        "decision": verdict.outcome,
        "per_class": metrics.per_class,
        "confusion_matrix": _confusion_table(metrics),
        "live_version": verdict.live_version or "none",
        "champion": verdict.champion_note,
    }
    if metrics.roc_auc is not None:
        metadata["roc_auc"] = metrics.roc_auc
    if verdict.champion:
        metadata["champion_version"] = verdict.champion.version
        metadata["champion_accuracy"] = verdict.champion.metrics.accuracy
        metadata["compared_rows"] = gate.compared_rows
        metadata["candidate_accuracy_compared"] = gate.candidate_accuracy_compared
    if metrics.unseen_labels:
        metadata["unseen_labels"] = [str(v) for v in metrics.unseen_labels]
    return rounded(metadata)


def _confusion_table(metrics: dict[str, Any]) -> dg.TableMetadataValue:
    labels = [str(label) for label in metrics.labels]
    columns = ["true", *(f"pred {x}" for x in labels)]
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(dict(zip(columns, [label, *counts], strict=True)))
            for label, counts in zip(labels, metrics.confusion_matrix, strict=True)
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(c, "string" if c == "true" else "int") for c in columns]
        ),
    )


def check_evaluation(day: str, verdict: Verdict) -> dg.AssetCheckEvaluation:
    """The gate's verdict for one day, recorded on that day's partition of the check.

    ERROR severity with blocking semantics per day: the pipeline deploys a day only after its
    own check passed, so one bad day never blocks, or passes, its neighbours in a batch.
    """
    gate = verdict.gate
    metadata: dict[str, Any] = {
        "rule": gate.rule,
        "reason": gate.reason,
        "accuracy": gate.accuracy,
        "threshold": gate.threshold,
        "max_regression": gate.max_regression,
        "n_holdout": gate.n_holdout,
        "min_holdout_rows": gate.min_holdout_rows,
        "live_version": verdict.live_version or "none",
        "champion": verdict.champion_note,
    }
    if gate.champion_accuracy is not None:
        metadata["champion_version"] = gate.champion_version
        metadata["champion_accuracy"] = gate.champion_accuracy
        metadata["compared_rows"] = gate.compared_rows
        metadata["candidate_accuracy_compared"] = gate.candidate_accuracy_compared
        metadata["p_value"] = gate.p_value
    return dg.AssetCheckEvaluation(
        asset_key=evaluation_metrics.key,
        check_name=CHECK_NAME,
        passed=gate.passed,
        metadata=rounded(metadata),
        description=gate.reason,
        severity=dg.AssetCheckSeverity.ERROR,
        partition=day,
    )
