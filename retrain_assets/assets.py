"""The four daily assets and the deploy gate. Thin: read inputs, call plain modules, attach
metadata.

Every asset handles all of `context.partition_keys`, oldest first: a scheduled or sensor run
carries one day, a backfill run carries a batch of days (see BACKFILL_POLICY). Intermediate files
live in the ArtifactStore rather than an IO manager because one run may write many days.
"""

import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from retrain_assets import evaluation, training
from retrain_assets.resources import RetrainResource
from retrain_assets.settings import settings
from retrain_assets.storage import release_arrow_memory
from retrain_assets.validation import DataValidationError, NoDataError, content_hash

# backfill_policy and partitioned checks are marked beta/preview in Dagster 1.13; they are used
# deliberately (pinned release, covered by tests), so the warnings would only be noise in every
# code-server, daemon and run log.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

GROUP = "retraining"
SETTINGS = settings()

# end_offset=1: today's partition exists, so a file landing today can be trained on right away.
daily_partitions = dg.DailyPartitionsDefinition(start_date=SETTINGS.start_date, end_offset=1)

# A backfill runs its days in batches instead of a run per day: run start-up costs seconds, a
# day's work far less. Each day still gets its own materialisation, metrics and gate result, and
# memory stays that of one day's window whatever the batch size. Dagster puts raw_dataset in
# the same run as its window-mapped children only when the backfill has fewer days than
# max_partitions_per_run (asset_backfill._get_cant_run_because_of_parent_reason); otherwise
# raw_dataset runs alone first and the rest waits a daemon tick (30 s). At 30, a 30-day
# backfill took 2 runs and that extra tick; at 100 it takes one run.
MAX_DAYS_PER_RUN = 100
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=MAX_DAYS_PER_RUN)


class TrainingConfig(dg.Config):
    """Per-run choice of model, from the launchpad."""

    estimator: str = training.DEFAULT_ESTIMATOR
    hyperparameters: dict[str, Any] = {}


class GateConfig(dg.Config):
    """Per-run overrides of the deploy gate; unset means the RETRAIN_* setting."""

    accuracy_threshold: float | None = None
    max_regression: float | None = None


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _progress(context: dg.AssetExecutionContext, index: int, day: str, text: str) -> None:
    total = len(context.partition_keys)
    prefix = f"[{index}/{total}] {day}: " if total > 1 else f"{day}: "
    context.log.info(prefix + text)


@dg.asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"pandas", "parquet"},
    description="The labelled rows that arrived for the day, validated (schema, nulls, labels, "
    "minimum rows) and stored as Parquet.",
)
def raw_dataset(
    context: dg.AssetExecutionContext, retrain: RetrainResource
) -> dg.MaterializeResult:
    source, store = retrain.source(), retrain.store()
    for index, day in enumerate(context.partition_keys, start=1):
        frame, origin = source.load(day)
        path = store.write_raw(day, frame)
        target = retrain.target_column
        balance = frame[target].value_counts(normalize=True).round(4)
        context.add_asset_metadata(
            {
                "dagster/row_count": len(frame),
                "source": origin,
                "path": dg.MetadataValue.path(str(path)),
                "class_balance": {str(k): float(v) for k, v in balance.items()},
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()]
                ),
                "content_hash": content_hash(frame),
                "preview": dg.MetadataValue.md(_markdown_table(frame.head(5))),
            },
            partition_key=day,
        )
        _progress(context, index, day, f"{len(frame)} rows from {origin}")
    return dg.MaterializeResult()


def _window_frames(
    retrain: RetrainResource, context: dg.AssetExecutionContext, days: list[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Each window day from storage, or straight from the source if it was not ingested yet."""
    store, source = retrain.store(), retrain.source()
    frames: dict[str, pd.DataFrame] = {}
    origins: dict[str, str] = {}
    from_source: list[str] = []
    for day in days:
        stored = store.read_raw(day)
        if stored is not None:
            frames[day], origins[day] = stored, str(store.raw_path(day))
            continue
        try:
            frames[day], origins[day] = source.load(day)
            from_source.append(day)
        except NoDataError:
            context.log.info(f"no data for {day}; the window goes on without it")
        except DataValidationError as exc:
            if day == days[-1]:
                raise
            context.log.warning(f"{day} left out of the window: {exc}")
    if from_source:
        context.log.info(f"not ingested yet, read from the source: {', '.join(from_source)}")
    return frames, origins


@dg.asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"scikitlearn"},
    deps=[
        dg.AssetDep(
            raw_dataset,
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-(SETTINGS.window_days - 1), end_offset=0
            ),
        )
    ],
    description="A classifier fitted on the rolling window of raw_dataset days "
    "(RETRAIN_WINDOW_DAYS); the newest rows are held out and never used for fitting.",
)
def trained_model(
    context: dg.AssetExecutionContext, config: TrainingConfig, retrain: RetrainResource
) -> dg.MaterializeResult:
    store = retrain.store()
    for index, day in enumerate(context.partition_keys, start=1):
        days = training.window_for(day, retrain.window_days, retrain.start_date)
        frames, origins = _window_frames(retrain, context, days)
        if day not in frames:
            raise NoDataError(f"no data for {day}: raw_dataset for that day is missing")
        window = training.assemble_window(
            frames, origins, days, retrain.target_column, consume=True
        )
        release_arrow_memory()  # the consumed days' Arrow-backed memory
        model, holdout = training.fit_window(
            window,
            target=retrain.target_column,
            holdout_fraction=retrain.holdout_fraction,
            min_train_rows=retrain.min_train_rows,
            estimator=config.estimator,
            params=config.hyperparameters,
        )
        model_bytes = training.model_to_bytes(model.pipeline)
        info = {
            **training.describe(model),
            "partition": day,
            "days_missing": window.days_missing,
            "sha256": training.sha256(model_bytes),
            "code_version": training.code_version(),
            "run_id": context.run.run_id,
        }
        store.write_model(day, model_bytes, info, holdout)
        context.add_asset_metadata(
            {
                "rows": model.fit_rows + model.holdout_rows,
                "fit_rows": model.fit_rows,
                "holdout_rows": model.holdout_rows,
                "features": len(model.features),
                "feature_names": model.features,
                "estimator": model.estimator,
                "params": info["params"],
                "fit_seconds": round(model.fit_seconds, 3),
                "artifact_sha256": info["sha256"],
                "data_fingerprint": model.data_fingerprint,
                "window": f"{window.days_used[0]}..{day}",
                "days_missing": window.days_missing,
            },
            partition_key=day,
        )
        _progress(
            context,
            index,
            day,
            f"fitted {model.estimator} on {model.fit_rows} rows "
            f"({len(window.days_used)} days) in {model.fit_seconds:.2f}s",
        )
        # Before the next day's window is read: a batch holds one window at a time.
        del window, model, holdout, model_bytes
    return dg.MaterializeResult()


@dg.asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"scikitlearn"},
    deps=[trained_model],
    description="Candidate metrics on the holdout, and the live model's on the same rows when "
    "it is a fair judge (same features, trained on data before the holdout).",
)
def evaluation_metrics(
    context: dg.AssetExecutionContext, config: GateConfig, retrain: RetrainResource
) -> dg.MaterializeResult:
    store, registry = retrain.store(), retrain.registry()
    threshold = (
        retrain.accuracy_threshold
        if config.accuracy_threshold is None
        else config.accuracy_threshold
    )
    max_regression = (
        retrain.max_regression if config.max_regression is None else config.max_regression
    )
    live = registry.live_card()
    live_model = training.model_from_bytes(registry.load_bytes(live["version"])) if live else None
    for index, day in enumerate(context.partition_keys, start=1):
        model_bytes, info, holdout = store.read_model(day)
        candidate = training.model_from_bytes(model_bytes)
        metrics = evaluation.evaluate(candidate, holdout, info["features"], retrain.target_column)
        fair, why = evaluation.champion_is_fair(live, info["features"], info["holdout_start_day"])
        champion = None
        if fair and live is not None and live_model is not None:
            champion_metrics = evaluation.evaluate(
                live_model, holdout, info["features"], retrain.target_column
            )
            champion = {"version": live["version"], "metrics": champion_metrics}
        gate = evaluation.decide_gate(
            metrics["accuracy"],
            threshold,
            max_regression,
            champion["version"] if champion else None,
            champion["metrics"]["accuracy"] if champion else None,
        )
        store.write_evaluation(
            day,
            {
                "partition": day,
                "metrics": metrics,
                "champion": champion,
                "champion_note": why,
                "gate": gate.as_dict(),
                "model_sha256": info["sha256"],
                "run_id": context.run.run_id,
            },
        )
        metadata: dict[str, Any] = {
            "accuracy": metrics["accuracy"],
            "balanced_accuracy": metrics["balanced_accuracy"],
            "f1_macro": metrics["f1_macro"],
            "n_holdout": metrics["n_holdout"],
            "threshold": threshold,
            "gate_passed": gate.passed,
            "per_class": metrics["per_class"],
            "confusion_matrix": dg.MetadataValue.md(_confusion_markdown(metrics)),
            "champion": why,
        }
        if metrics["roc_auc"] is not None:
            metadata["roc_auc"] = metrics["roc_auc"]
        if champion:
            metadata["champion_version"] = champion["version"]
            metadata["champion_accuracy"] = champion["metrics"]["accuracy"]
        if metrics["unseen_labels"]:
            metadata["unseen_labels"] = [str(v) for v in metrics["unseen_labels"]]
        context.add_asset_metadata(metadata, partition_key=day)
        _progress(context, index, day, f"accuracy {metrics['accuracy']:.4f}; gate: {gate.reason}")
    return dg.MaterializeResult()


def _confusion_markdown(metrics: dict[str, Any]) -> str:
    labels = [str(label) for label in metrics["labels"]]
    frame = pd.DataFrame(metrics["confusion_matrix"], columns=[f"pred {x}" for x in labels])
    frame.insert(0, "true", labels)
    return _markdown_table(frame)


@dg.asset_check(
    asset=evaluation_metrics,
    partitions_def=daily_partitions,
    blocking=True,
    description="Passes iff accuracy >= threshold and the candidate is not worse than a fair "
    "live model by more than RETRAIN_MAX_REGRESSION. A failure stops the deploy.",
)
def accuracy_above_threshold(
    context: dg.AssetCheckExecutionContext, retrain: RetrainResource
) -> Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]:
    store = retrain.store()
    days = context.partition_keys
    for day in days:
        gate = store.read_evaluation(day)["gate"]
        metadata = {
            "rule": gate["rule"],
            "reason": gate["reason"],
            "accuracy": gate["accuracy"],
            "threshold": gate["threshold"],
            "max_regression": gate["max_regression"],
            "champion_version": gate["champion_version"] or "none",
        }
        if gate["champion_accuracy"] is not None:
            metadata["champion_accuracy"] = gate["champion_accuracy"]
        if len(days) == 1:
            yield dg.AssetCheckResult(
                passed=gate["passed"], metadata=metadata, description=gate["reason"]
            )
            return
        # In a batched backfill run one blocking result would stop every day of the batch, so
        # each day is recorded on its own and deployed_model_version enforces it per day.
        yield dg.AssetCheckEvaluation(
            asset_key=evaluation_metrics.key,
            check_name="accuracy_above_threshold",
            passed=gate["passed"],
            metadata={**metadata, "enforced_by": "deployed_model_version (batched run)"},
            description=gate["reason"],
            severity=dg.AssetCheckSeverity.ERROR,
            blocking=False,
            partition=day,
        )
    yield dg.Output(None, output_name="result")


@dg.asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    backfill_policy=BACKFILL_POLICY,
    kinds={"skops"},
    deps=[evaluation_metrics],
    pool="model_registry",
    output_required=False,
    description="The candidate published to the model registry as a new version, made live "
    "unless the live model is from a newer day. Its value is the version string.",
)
def deployed_model_version(
    context: dg.AssetExecutionContext, retrain: RetrainResource
) -> Iterator[dg.Output[str] | dg.AssetMaterialization]:
    store, registry = retrain.store(), retrain.registry()
    for index, day in enumerate(context.partition_keys, start=1):
        evaluated = store.read_evaluation(day)
        gate = evaluated["gate"]
        if not gate["passed"]:
            _progress(context, index, day, f"not deployed, the gate failed: {gate['reason']}")
            continue
        model_bytes, info, _ = store.read_model(day)
        if training.sha256(model_bytes) != evaluated["model_sha256"]:
            raise RuntimeError(
                f"{day}: the trained model changed after it was evaluated; re-run evaluation"
            )
        card = {
            "metrics": evaluated["metrics"],
            "threshold": gate["threshold"],
            "max_regression": gate["max_regression"],
            "gate": gate,
            "champion": evaluated["champion"],
            **{
                k: info[k]
                for k in (
                    "estimator",
                    "params",
                    "features",
                    "classes",
                    "fit_rows",
                    "holdout_rows",
                    "fit_end_day",
                    "holdout_start_day",
                    "data_fingerprint",
                    "window_days",
                    "code_version",
                )
            },
        }
        result = registry.deploy(model_bytes, card, partition=day, run_id=context.run.run_id)
        metadata = {
            "version": result.version,
            "event": result.event,
            "live_version": result.live or "none",
            "previous_live_version": result.previous_live or "none",
            "new_version_created": result.created,
            "accuracy": evaluated["metrics"]["accuracy"],
        }
        _progress(context, index, day, f"{result.event} {result.version} (live: {result.live})")
        if len(context.partition_keys) == 1:
            yield dg.Output(result.version, metadata=metadata)
        else:
            yield dg.AssetMaterialization(
                asset_key=context.asset_key, partition=day, metadata=metadata
            )
