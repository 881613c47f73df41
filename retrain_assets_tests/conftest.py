"""Shared fixtures: a code location wired to temporary directories, and run helpers."""

import os

# Settings are read once, when the code location is imported: scrub what a developer's shell
# may export (RETRAIN_*, TELEGRAM_*) before anything imports retrain_assets, then set the small
# window in-process flow tests use. End-to-end tests start processes with their own environment.
for _name in list(os.environ):
    if _name.startswith(("RETRAIN_", "TELEGRAM_")) or _name == "DAGSTER_WEBSERVER_URL":
        del os.environ[_name]
TEST_WINDOW_DAYS = 5
os.environ["RETRAIN_WINDOW_DAYS"] = str(TEST_WINDOW_DAYS)

from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import dagster as dg  # noqa: E402
import pytest  # noqa: E402

from retrain_assets.artifacts import ArtifactStore  # noqa: E402
from retrain_assets.definitions import ASSETS  # noqa: E402
from retrain_assets.defs.automation.jobs import retrain_job  # noqa: E402
from retrain_assets.defs.automation.rollback import rollback_job  # noqa: E402
from retrain_assets.defs.automation.schedules import retrain_schedule  # noqa: E402
from retrain_assets.defs.automation.sensors import new_data_sensor  # noqa: E402
from retrain_assets.defs.resources import RetrainResource, TelegramResource  # noqa: E402
from retrain_assets.registry import ModelRegistry  # noqa: E402
from retrain_assets.settings import load_settings  # noqa: E402

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
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


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def service(tmp_path: Path, instance: dg.DagsterInstance) -> Service:
    return Service(tmp_path, instance)


@pytest.fixture
def make_service(tmp_path: Path, instance: dg.DagsterInstance) -> Callable[..., Service]:
    def make(**overrides: Any) -> Service:
        return Service(tmp_path, instance, **overrides)

    return make


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """The failed step's key and its error text, causes included (the user's exception)."""
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, parts = event.event_specific_data.error, []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return event.step_key, "\n".join(parts)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files (real Dagster processes, minutes each) start first on the two workers;
    the in-process files fill in around them instead of leaving one of them to run alone."""
    items.sort(key=lambda item: 0 if "/e2e/" in str(item.path) else 1)
