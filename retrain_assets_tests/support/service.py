"""Service: retrain_job wired to temporary folders, run in process; and what a failed step said."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg

from retrain_assets.artifacts import ArtifactStore
from retrain_assets.definitions import ASSETS
from retrain_assets.defs.automation.jobs import retrain_job
from retrain_assets.defs.automation.rollback import rollback_job
from retrain_assets.defs.automation.schedules import retrain_schedule
from retrain_assets.defs.automation.sensors import RANGE_END, RANGE_START, new_data_sensor
from retrain_assets.defs.resources import RetrainResource, TelegramResource
from retrain_assets.registry import ModelRegistry
from retrain_assets.settings import load_settings

# Small forests: flow tests check what the service decides, not how well a forest fits.
FAST_MODEL = {"ops": {"retraining": {"config": {"hyperparameters": {"n_estimators": 10}}}}}


class Service:
    """retrain_job wired to temporary storage, registry and (optionally) a landing dir."""

    def __init__(self, root: Path, instance: dg.DagsterInstance, **overrides: Any) -> None:
        self.root = root
        self.instance = instance
        # The defaults are the settings' own (an empty environment), with this test's folders.
        settings = replace(
            load_settings({"DAGSTER_HOME": str(root)}),
            storage_dir=root / "storage",
            registry_dir=root / "registry",
            **{k: Path(v) if k == "data_dir" and v else v for k, v in overrides.items()},
        )
        self.retrain = RetrainResource.from_settings(settings)
        self.telegram = TelegramResource()
        self._build()

    def _build(self) -> None:
        self.defs = dg.Definitions(
            assets=ASSETS,  # with the Telegram hooks, as the code location wires them
            jobs=[retrain_job, rollback_job],
            schedules=[retrain_schedule],
            sensors=[new_data_sensor],
            resources={"retrain": self.retrain, "telegram": self.telegram},
            executor=dg.in_process_executor,
        )

    def with_telegram(self, telegram: TelegramResource) -> "Service":
        self.telegram = telegram
        self._build()
        return self

    @property
    def registry(self) -> ModelRegistry:
        return self.retrain.registry()

    @property
    def store(self) -> ArtifactStore:
        return self.retrain.store()

    def run(
        self,
        day: str | None = None,
        *,
        days: tuple[str, str] | None = None,
        run_config: dict[str, Any] | None = None,
        implicit: bool = False,
    ) -> dg.ExecuteInProcessResult:
        """Run retrain_job (or, with implicit, the UI's implicit asset job) for a day or range."""
        job = (
            self.defs.resolve_implicit_global_asset_job_def()
            if implicit
            else self.defs.resolve_job_def("retrain_job")
        )
        tags = {RANGE_START: days[0], RANGE_END: days[1]} if days else None
        return job.execute_in_process(
            partition_key=day,
            tags=tags,
            instance=self.instance,
            run_config=FAST_MODEL if run_config is None else run_config,
            raise_on_error=False,
        )

    def outcome(self, day: str) -> str | None:
        record = self.store.read_outcome(day)
        return record.outcome if record else None


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """The failed step's key and its error text, causes included (the user's exception)."""
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, parts = event.event_specific_data.error, []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return event.step_key, "\n".join(parts)
