"""deployed_model_version: the candidate published to the registry and, if newest, made live."""

from typing import Any

import dagster as dg

from retrain_assets.defs.retraining.evaluate import evaluation_metrics
from retrain_assets.defs.retraining.ingest import GROUP
from retrain_assets.defs.retraining.train import Candidate
from retrain_assets.ml.judge import Verdict
from retrain_assets.registry import DeployResult, ModelRegistry

deployed_model_version = dg.AssetSpec(
    "deployed_model_version",
    group_name=GROUP,
    kinds={"skops"},
    skippable=True,
    deps=[evaluation_metrics],
    description="The candidate published to the model registry as a new version, made live "
    "unless the live model is from a newer day. Metadata `version` holds the version string.",
)


def deploy_day(
    day: str,
    candidate: Candidate,
    verdict: Verdict,
    registry: ModelRegistry,
    run_id: str,
    keep_versions: int = 0,
) -> tuple[DeployResult, dict[str, Any]]:
    """Publish a day whose check passed, exactly as its evaluation planned, then prune the
    registry to the last `keep_versions` live versions (RETRAIN_KEEP_VERSIONS; 0 keeps all)."""
    gate = verdict.gate
    card = {
        "metrics": verdict.metrics.as_dict(),
        "threshold": gate.threshold,
        "max_regression": gate.max_regression,
        "gate": gate.as_dict(),
        "champion": verdict.champion.as_dict() if verdict.champion else None,
        **candidate.info.card_facts(),
    }
    result = registry.deploy(
        candidate.model_bytes, card, partition=day, run_id=run_id, expected=verdict.plan
    )
    # Retention acts when the live set changes; a backfill's superseded versions wait for it.
    pruned: list[str] = []
    if result.event == "deployed" and keep_versions:
        try:
            pruned = registry.prune(keep_versions, run_id=run_id)
        except Exception as exc:  # the deploy is done: tidying up must not fail the day
            pruned = [f"not pruned: {exc}"]
    metadata = {
        "version": result.version,
        "outcome": result.event,
        "live_version": result.live or "none",
        "previous_live_version": result.previous_live or "none",
        "new_version_created": result.created,
        "accuracy": round(verdict.metrics.accuracy, 4),
        "refit_on_full_window": candidate.info.refit,
        "versions_pruned": ", ".join(pruned) or "none",
        "path": dg.MetadataValue.path(str(registry.versions_dir / result.version)),
    }
    return result, metadata
