"""defs/resources.py: resources built from settings; the token kept out of config."""

import dagster as dg
import pytest

from retrain_assets.data.demo import DemoSource
from retrain_assets.data.landing import LandingDirSource
from retrain_assets.defs.resources import RetrainResource, TelegramResource
from retrain_assets.settings import load_settings


def test_retrain_resource_follows_settings(tmp_path) -> None:
    settings = load_settings(
        {
            "DAGSTER_HOME": str(tmp_path),
            "RETRAIN_DATA_DIR": str(tmp_path / "in"),
            "RETRAIN_MODEL_NAME": "churn",
            "RETRAIN_WINDOW_DAYS": "7",
        }
    )
    resource = RetrainResource.from_settings(settings)
    assert isinstance(resource.source(), LandingDirSource)
    assert resource.registry().root == tmp_path / "model_registry" / "churn"
    # One folder per kind of source: demo days never mix into a landing window.
    assert resource.store().root == tmp_path / "retrain_storage" / "landing"
    assert resource.model_name == "churn"
    demo = RetrainResource.from_settings(load_settings({"DAGSTER_HOME": str(tmp_path)}))
    assert isinstance(demo.source(), DemoSource)


def test_telegram_token_comes_from_an_env_var_not_a_literal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "42:very-secret")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1001")
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://ui:3000/")
    resource = TelegramResource.from_env()
    # The config Dagster stores and shows names the variable; the value stays in the env.
    assert isinstance(resource.bot_token, dg.EnvVar)
    assert "very-secret" not in repr(resource._get_non_default_public_field_values())  # noqa: SLF001
    with dg.build_resources({"telegram": resource}) as built:
        assert built.telegram.configured
        assert built.telegram.bot_token == "42:very-secret"
        assert built.telegram.run_link("abc") == "http://ui:3000/runs/abc"


def test_telegram_unconfigured_without_token_or_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1001")
    resource = TelegramResource.from_env()
    assert not resource.configured
    assert resource.run_link("abc") is None
