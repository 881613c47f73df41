"""Helpers for in-process runs: a day's materialisation metadata, the check's verdicts, run
config and tags, landing days, a local Telegram resource."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import pandas as pd
from pytest_httpserver import HTTPServer

from retrain_assets.data.demo import demo_day
from retrain_assets.defs.resources import TelegramResource

if TYPE_CHECKING:
    from retrain_assets_tests.support.service import Service


def materializations(result: dg.ExecuteInProcessResult, key: str) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat.asset_key == dg.AssetKey(key):
            out[mat.partition] = {k: v.value for k, v in mat.metadata.items()}
    return out


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str | None, bool]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            out[data.partition or event.partition] = data.passed
    return out


def config(**values: object) -> dict:
    """Launchpad run config for the retraining op (small forests unless told otherwise)."""
    values.setdefault("hyperparameters", {"n_estimators": 10})
    return {"ops": {"retraining": {"config": values}}}


def run_tags(service: Service, result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return dict(service.instance.get_run_by_id(result.run_id).tags)


def write_demo_days(directory: Path, days: list[str], target: str = "label") -> None:
    """The demo's days as a user's CSV files: its features but f5, under `target`."""
    directory.mkdir(parents=True, exist_ok=True)
    for day in days:
        frame = demo_day(day, target=target).drop(columns=["f5"])
        frame.to_csv(directory / f"{day}.csv", index=False)


def landing_day(directory: Path, day: str, columns: list[str], labels=(0, 1)) -> None:
    """150 rows of two features (label = a > 0) as `columns`, in that order."""
    rng = np.random.default_rng(int(day.replace("-", "")))
    frame = pd.DataFrame(rng.normal(size=(150, 2)), columns=["a", "b"])
    frame["target"] = np.where(frame["a"] > 0, labels[1], labels[0])
    frame[columns].to_csv(directory / f"{day}.csv", index=False)


TOKEN = "123456:SECRET-TOKEN-abc"
CHAT = "-100777"
UI = "http://dagster.internal:3000"
PATH = f"/bot{TOKEN}/sendMessage"


def telegram_for(server: HTTPServer, budget_s: float = 30.0) -> TelegramResource:
    return TelegramResource(
        bot_token=TOKEN,
        chat_id=CHAT,
        api_url=f"http://127.0.0.1:{server.port}",
        webserver_url=UI,
        budget_s=budget_s,
    )
