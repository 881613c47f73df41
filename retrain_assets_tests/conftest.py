"""The environment scrubbed before anything imports retrain_assets; the shared fixtures."""

import os

# Settings are read once, when the code location is imported: scrub what a developer's shell
# may export (RETRAIN_*, TELEGRAM_*) before anything imports retrain_assets, then set the small
# window in-process flow tests use. End-to-end tests start processes with their own environment.
for _name in list(os.environ):
    if _name.startswith(("RETRAIN_", "TELEGRAM_")) or _name == "DAGSTER_WEBSERVER_URL":
        del os.environ[_name]
os.environ["RETRAIN_WINDOW_DAYS"] = "5"

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import dagster as dg  # noqa: E402
import pytest  # noqa: E402

from retrain_assets_tests.support.service import Service  # noqa: E402


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files (real Dagster processes, minutes each) start first on the two workers;
    the in-process files fill in around them instead of leaving one of them to run alone."""
    items.sort(key=lambda item: 0 if "/e2e/" in str(item.path) else 1)
