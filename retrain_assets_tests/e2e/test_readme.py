"""The README's shell blocks, run as written by a new user on a fresh home, and its claims.

Each ```bash block of the README is either run here, in order, in one shell (so the demo
block's `export DAGSTER_HOME` carries to the CLI block, as in a user's terminal), or named below
with the reason it cannot run here and the test that covers it instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd

from retrain_assets_tests import support as ph

README = ph.REPO_ROOT / "README.md"
# The first command of a block that is not run here -> why, and what covers it.
NOT_RUN = {
    "make dev": "starts dagster dev and keeps it running; e2e/test_dev.py runs that topology",
    "cp .env.example .env": "docker compose: no Docker engine here; e2e/test_deployment.py "
    "checks the compose file and runs its services as processes",
    "mkdir -p backup": "docker compose exec/run: no Docker engine here",
}
# What the README says the demo block does on a fresh home.
DEPLOYED = {
    "2026-10-16": "0.1.0",
    "2026-10-17": "0.1.1",
    "2026-10-20": "0.1.2",
    "2026-10-21": "0.1.3",
}
BLOCKED = ["2026-10-18", "2026-10-19"]


def bash_blocks() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.S | re.M)


def test_every_bash_block_is_run_or_says_why_not() -> None:
    blocks = bash_blocks()
    skipped = [b for b in blocks if b.lstrip().startswith(tuple(NOT_RUN))]
    assert len(skipped) == len(NOT_RUN)  # each reason still matches a block
    assert len(blocks) - len(skipped) >= 2  # the demo block and the CLI block


def test_readme_commands_work_as_written_and_do_what_it_says(tmp_path: Path) -> None:
    runnable = [b for b in bash_blocks() if not b.lstrip().startswith(tuple(NOT_RUN))]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RETRAIN_", "TELEGRAM_", "DAGSTER_"))
    }
    env["PATH"] = f"{Path(ph.bin_path('dagster')).parent}{os.pathsep}{env['PATH']}"  # venv on
    script = "set -euo pipefail\n" + "\n".join(runnable)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    home = tmp_path / ".dagster_home"
    registry = home / "model_registry" / "classifier"
    history = [json.loads(line) for line in (registry / "history.jsonl").read_text().splitlines()]
    deployed = {e["partition"]: e["version"] for e in history if e["event"] == "deployed"}
    assert deployed == DEPLOYED
    outcomes = home / "retrain_storage" / "demo" / "outcomes"
    blocked = sorted(
        day
        for day in [*DEPLOYED, *BLOCKED]
        if json.loads((outcomes / f"{day}.json").read_text())["outcome"] == "blocked"
    )
    assert blocked == BLOCKED
    # The CLI block: `list` marks the live version; predict wrote its file; rollback went back.
    assert re.search(r"0\.1\.3.*live", done.stdout)
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert {"prediction", "proba_0", "proba_1"} <= set(scored.columns) and len(scored) > 100
    assert history[-1]["event"] == "rolled_back" and history[-1]["version"] == "0.1.2"
    assert json.loads((registry / "current.json").read_text())["version"] == "0.1.2"

    # The README states these same facts in words.
    text = " ".join(README.read_text().split())
    assert "these deploy 0.1.0 and 0.1.1 (10-16 and 10-17)" in text
    assert "the gate blocks 10-18 and 10-19" in text
    assert "10-20 and 10-21 deploy again (0.1.2 and 0.1.3)" in text
