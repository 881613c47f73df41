"""The retraining op: the five assets and the gate, computed day by day, oldest first.

One op, so every launch path (schedule, sensor, UI Materialize or backfill, CLI, a range run, a
batch of any size) runs the same loop: day D is ingested, the model live after day D-1 is scored
on D's rows (watch.py), then D is trained, evaluated against the model live at that point,
checked, and deployed before day D+1 starts. A day that fails or is skipped
ends alone; the run then fails naming the failed days. Each day's outcome is one of
artifacts.OUTCOMES, recorded in storage, in the run's tags, in the assets' metadata and in the
Telegram message. In a run that fails, Dagster marks every planned partition the run did not
materialise failed: a failed day's, and also the unmaterialised assets of blocked or skipped
days in the same run (the outcome tags, records and observations tell them apart).
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from retrain_assets.artifacts import DECIDED, DayRecord
from retrain_assets.data.validation import NoDataError
from retrain_assets.defs.partitions import BACKFILL_POLICY, daily_partitions
from retrain_assets.defs.resources import RetrainResource
from retrain_assets.defs.retraining.deploy import deploy_day, deployed_model_version
from retrain_assets.defs.retraining.evaluate import (
    CHECK_NAME,
    GateSettings,
    LiveTracker,
    accuracy_above_threshold,
    check_evaluation,
    evaluate_day,
    evaluation_metadata,
    evaluation_metrics,
)
from retrain_assets.defs.retraining.ingest import ingest, raw_dataset
from retrain_assets.defs.retraining.outcomes import days_failed, outcome_tags
from retrain_assets.defs.retraining.train import TrainingChoice, train, trained_model
from retrain_assets.defs.retraining.watch import live_model_metrics, watch_day, watch_metadata
from retrain_assets.ml.fit import DEFAULT_ESTIMATOR
from retrain_assets.ml.monitor import ROLLBACK_CANDIDATES
from retrain_assets.ml.window import InsufficientDataError
from retrain_assets.text import first_line

OP_NAME = "retraining"
# One retraining run at a time across every job, the UI's implicit asset job included
# (dagster.yaml: concurrency.pools.granularity run), so days are decided in queue order.
POOL = "retrain"


class RetrainConfig(dg.Config):
    """What one run may choose in the launchpad; unset gate values mean the RETRAIN_* setting."""

    estimator: str = DEFAULT_ESTIMATOR
    hyperparameters: dict[str, Any] = {}
    accuracy_threshold: float | None = None
    max_regression: float | None = None


class DayRunner:
    """The run's days, one after another, each ending as exactly one outcome."""

    def __init__(
        self, context: dg.AssetExecutionContext, config: RetrainConfig, retrain: RetrainResource
    ) -> None:
        self.context = context
        self.retrain = retrain
        self.run_id = context.run.run_id
        self.days = sorted(context.partition_keys)
        self.store, self.registry = retrain.store(), retrain.registry()
        self.source = retrain.source()
        self.tracker = LiveTracker(self.registry)
        self.choice = TrainingChoice(
            estimator=config.estimator,
            hyperparameters=config.hyperparameters,
            holdout_fraction=retrain.holdout_fraction,
            min_train_rows=retrain.min_train_rows,
        )
        self.gate = GateSettings(
            threshold=retrain.accuracy_threshold
            if config.accuracy_threshold is None
            else config.accuracy_threshold,
            max_regression=retrain.max_regression
            if config.max_regression is None
            else config.max_regression,
            min_holdout_rows=retrain.min_holdout_rows,
            refit=retrain.refit,
        )
        self.records: list[DayRecord] = []
        self.index = 0
        self.alert: str | None = None  # the current day's watch alert

    def log(self, day: str, text: str) -> None:
        total = len(self.days)
        prefix = f"[{self.index}/{total}] {day}: " if total > 1 else f"{day}: "
        self.context.log.info(prefix + text)

    def end(
        self,
        day: str,
        outcome: str,
        stage: str,
        reason: str,
        version: str | None = None,
        decision_key: str | None = None,
        repeated: bool = False,
    ) -> Iterator[dg.AssetObservation]:
        record = self.store.write_outcome(
            DayRecord(
                day,
                self.run_id,
                outcome,
                stage,
                reason,
                version,
                "",
                decision_key,
                repeated,
                self.alert,
            )
        )
        self.records.append(record)
        text = f"{outcome} at {stage}: {reason}"
        if outcome == "failed":
            self.context.log.error(f"{day}: {text}")
        elif outcome in ("skipped", "blocked"):
            self.context.log.warning(f"{day}: {text}")
        else:
            self.log(day, text)
        if outcome in ("failed", "skipped", "blocked"):
            # Not deployed: the day's outcome still shows on deployed_model_version's events.
            yield dg.AssetObservation(
                asset_key=deployed_model_version.key,
                partition=day,
                metadata={"outcome": outcome, "stage": stage, "reason": reason},
            )

    def watch(self, day: str, frame: Any) -> Iterator[Any]:
        """The live model on the day's rows, before the day's own candidate can replace it."""
        earlier = self.store.read_outcome(day)
        # A day already decided is not acted on again: a re-run never moves the registry.
        decided = earlier is not None and earlier.outcome in DECIDED
        seen = watch_day(
            day,
            frame,
            registry=self.registry,
            tracker=self.tracker,
            target=self.retrain.target_column,
            threshold=self.gate.threshold,
            max_regression=self.gate.max_regression,
            auto_rollback=self.retrain.auto_rollback and not decided,
            run_id=self.run_id,
        )
        metadata = watch_metadata(seen)
        if metadata is not None:
            yield dg.AssetMaterialization(live_model_metrics.key, partition=day, metadata=metadata)
        self.alert = seen.alert
        if self.alert:
            self.context.log.warning(f"{day}: {self.alert}")
        else:
            self.log(day, seen.score.note)

    def run_day(self, day: str) -> Iterator[Any]:
        stage = raw_dataset.key.to_user_string()
        self.alert = None
        try:
            frame, metadata = ingest(day, self.source, self.store, self.retrain.target_column)
            yield dg.AssetMaterialization(raw_dataset.key, partition=day, metadata=metadata)
            self.log(day, f"{len(frame)} rows from {metadata['source']}")

            stage = live_model_metrics.key.to_user_string()
            yield from self.watch(day, frame)

            stage = trained_model.key.to_user_string()
            frames = {day: frame}
            del frame  # the window consumes it; a batch holds one window at a time
            candidate, metadata = train(
                day,
                frames,
                store=self.store,
                source=self.source,
                target=self.retrain.target_column,
                choice=self.choice,
                run_id=self.run_id,
                log=lambda text: self.log(day, text),
            )
            yield dg.AssetMaterialization(trained_model.key, partition=day, metadata=metadata)
            model = candidate.model
            self.log(
                day,
                f"fitted {model.estimator} on {model.fit_rows} rows "
                f"({len(model.window_days)} days) in {model.fit_seconds:.2f}s",
            )

            stage = evaluation_metrics.key.to_user_string()
            key = f"{candidate.info.sha256}:{self.gate.key}"
            earlier = self.store.earlier_decision(day, key)
            if earlier is not None:
                # A re-run (re-execution, retry, the schedule after the sensor) of a day already
                # decided on this very candidate and gate repeats that decision: the registry and
                # the verdict do not depend on how often a day was launched. Its record keeps
                # what the watch saw when the day was decided.
                self.alert = earlier.alert
                yield from self.end(
                    day,
                    earlier.outcome,
                    earlier.stage,
                    f"already decided in run {earlier.run_id}: {earlier.reason}",
                    earlier.version,
                    key,
                    repeated=True,
                )
                return
            verdict, candidate = evaluate_day(
                day,
                candidate,
                registry=self.registry,
                tracker=self.tracker,
                store=self.store,
                target=self.retrain.target_column,
                gate=self.gate,
                run_id=self.run_id,
            )
            yield dg.AssetMaterialization(
                evaluation_metrics.key,
                partition=day,
                metadata=evaluation_metadata(verdict, self.gate.threshold),
            )
            yield check_evaluation(day, verdict)
            if verdict.plan is None:
                yield from self.end(
                    day, "blocked", CHECK_NAME, verdict.gate.reason, decision_key=key
                )
                return

            stage = deployed_model_version.key.to_user_string()
            keep = self.retrain.keep_versions
            if keep and self.retrain.auto_rollback:  # its candidates must survive retention
                keep = max(keep, ROLLBACK_CANDIDATES + 1)
            result, metadata = deploy_day(day, candidate, verdict, self.registry, self.run_id, keep)
            if result.event == "deployed":
                self.tracker.deployed(result.version, candidate, verdict.metrics)
            yield dg.AssetMaterialization(
                deployed_model_version.key, partition=day, metadata=metadata
            )
            reason = f"{result.version} (live: {result.live or 'none'})"
            yield from self.end(day, result.event, stage, reason, result.version, key)
        except NoDataError as exc:
            yield from self.end(day, "skipped", stage, first_line(exc))
        except InsufficientDataError as exc:
            # Not enough rows yet is a skip only until a first model is live; after that the
            # same shortfall is a data outage and fails the day.
            outcome = "failed" if self.registry.current() else "skipped"
            yield from self.end(day, outcome, stage, first_line(exc))
        except Exception as exc:  # one bad day fails alone; the run names it at the end
            self.context.log.exception(f"{day}: {stage} failed")
            yield from self.end(day, "failed", stage, first_line(exc))

    def finish(self) -> None:
        tags = outcome_tags(self.records)
        if tags:
            self.context.instance.add_run_tags(self.run_id, tags)
        failure = days_failed(self.records, len(self.days))
        if failure is not None:
            raise failure


@dg.multi_asset(
    name=OP_NAME,
    specs=[
        raw_dataset,
        live_model_metrics,
        trained_model,
        evaluation_metrics,
        deployed_model_version,
    ],
    check_specs=[accuracy_above_threshold],
    partitions_def=daily_partitions,
    backfill_policy=BACKFILL_POLICY,
    can_subset=False,
    pool=POOL,
    description="Ingest, train, evaluate, gate and deploy each day of the run, oldest first.",
)
def retraining(
    context: dg.AssetExecutionContext, config: RetrainConfig, retrain: RetrainResource
) -> Iterator[Any]:
    runner = DayRunner(context, config, retrain)
    for index, day in enumerate(runner.days, start=1):
        runner.index = index
        yield from runner.run_day(day)
    # The check's step output: its per-day results were recorded above, one per partition.
    yield dg.Output(
        None,
        output_name=context.assets_def.get_output_name_for_asset_check_key(
            accuracy_above_threshold.key
        ),
    )
    runner.finish()
