"""Helpers for in-process runs: a day's materialisation metadata, a local Telegram resource."""

from __future__ import annotations

import dagster as dg
from pytest_httpserver import HTTPServer

from retrain_assets.defs.resources import TelegramResource


def materializations(result: dg.ExecuteInProcessResult, key: str) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat.asset_key == dg.AssetKey(key):
            out[mat.partition] = {k: v.value for k, v in mat.metadata.items()}
    return out


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
