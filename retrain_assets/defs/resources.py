"""Dagster resources: the one place where the environment picks paths, sources and clients."""

import os
from pathlib import Path

import dagster as dg

from retrain_assets.artifacts import ArtifactStore
from retrain_assets.data.landing import MIB, FileLimits
from retrain_assets.data.sources import DataSource, make_source
from retrain_assets.registry import ModelRegistry
from retrain_assets.settings import Settings
from retrain_assets.telegram import TelegramClient
from retrain_assets.telegram.client import DEFAULT_API_URL


class RetrainResource(dg.ConfigurableResource):
    """Where data comes from and goes to, and the rules of the gate."""

    # Each field is the setting of the same name (settings.py holds the defaults and parses the
    # environment once); from_settings is how the code location and the tests build it.
    data_dir: str | None  # None: the built-in demo stream
    storage_dir: str
    registry_dir: str
    model_name: str
    target_column: str
    accuracy_threshold: float
    max_regression: float
    holdout_fraction: float
    min_rows_per_day: int
    min_train_rows: int
    min_holdout_rows: int
    refit: bool
    keep_versions: int
    auto_rollback: bool
    max_file_mb: int
    max_rows_per_day: int
    late_data_alert: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetrainResource":
        values = {name: getattr(settings, name) for name in cls.model_fields}
        paths = ("data_dir", "storage_dir", "registry_dir")
        return cls(**{k: str(v) if k in paths and v is not None else v for k, v in values.items()})

    def source(self) -> DataSource:
        data_dir = Path(self.data_dir) if self.data_dir else None
        limits = FileLimits(self.max_file_mb * MIB, self.max_rows_per_day)
        return make_source(data_dir, self.target_column, self.min_rows_per_day, limits)

    def store(self) -> ArtifactStore:
        data_dir = Path(self.data_dir) if self.data_dir else None
        return ArtifactStore.for_source(Path(self.storage_dir), data_dir)

    def registry(self) -> ModelRegistry:
        return ModelRegistry(Path(self.registry_dir), self.model_name)


class TelegramResource(dg.ConfigurableResource):
    """Telegram delivery settings; without a token or chat id nothing is sent."""

    bot_token: str | None = None
    chat_id: str | None = None
    api_url: str = DEFAULT_API_URL
    webserver_url: str | None = None  # DAGSTER_WEBSERVER_URL, for links to runs
    budget_s: float = 30.0

    @classmethod
    def from_env(cls) -> "TelegramResource":
        # EnvVar keeps the token out of the resource config Dagster shows in the UI.
        token = dg.EnvVar("TELEGRAM_BOT_TOKEN") if os.environ.get("TELEGRAM_BOT_TOKEN") else None
        return cls(
            bot_token=token,
            chat_id=os.environ.get("TELEGRAM_CHAT_ID") or None,
            api_url=os.environ.get("TELEGRAM_API_URL") or DEFAULT_API_URL,
            webserver_url=os.environ.get("DAGSTER_WEBSERVER_URL") or None,
        )

    @property
    def configured(self) -> bool:
        return bool(self.bot_token and self.chat_id)

    def client(self) -> TelegramClient:
        return TelegramClient(
            self.bot_token or "", self.chat_id or "", self.api_url, budget_s=self.budget_s
        )

    def run_link(self, run_id: str) -> str | None:
        return f"{self.webserver_url.rstrip('/')}/runs/{run_id}" if self.webserver_url else None
