"""Shared fixtures: a code location wired to temporary directories, and run helpers."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from retrain_assets.automation import new_data_sensor, retrain_job, retrain_schedule
from retrain_assets.definitions import ASSET_CHECKS, ASSETS
from retrain_assets.registry import ModelRegistry
from retrain_assets.resources import RetrainResource, TelegramResource
from retrain_assets.storage import ArtifactStore

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


class Service:
    """retrain_job wired to temporary storage, registry and (optionally) a landing dir."""

    def __init__(self, root: Path, instance: dg.DagsterInstance, **overrides: Any) -> None:
        self.root = root
        self.instance = instance
        self.retrain = RetrainResource(
            storage_dir=str(root / "storage"),
            registry_dir=str(root / "registry"),
            **{"window_days": 14, **overrides},
        )
        self.telegram = TelegramResource()
        self._build()

    def _build(self) -> None:
        self.defs = dg.Definitions(
            assets=ASSETS,  # with the Telegram hooks, as the code location wires them
            asset_checks=ASSET_CHECKS,
            jobs=[retrain_job],
            schedules=[retrain_schedule],
            sensors=[new_data_sensor],
            resources={"retrain": self.retrain, "telegram": self.telegram},
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
    ) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def("retrain_job")
        tags = {RANGE_START: days[0], RANGE_END: days[1]} if days else None
        return job.execute_in_process(
            partition_key=day,
            tags=tags,
            instance=self.instance,
            run_config=run_config or {},
            raise_on_error=False,
        )


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


def pg_required() -> bool:
    """Under CI an unreachable PostgreSQL is a failure, never a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    """The failed step's key and its error text, causes included (the user's exception)."""
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, parts = event.event_specific_data.error, []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return event.step_key, "\n".join(parts)
