"""`retrain-assets list|show|verify|predict|rollback|prune|repair`: the registry from a shell.

Each command prints what it did in a line or a table and returns the process exit code.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

from retrain_assets.cli.errors import CliError
from retrain_assets.fsutil import write_atomic
from retrain_assets.registry import LIVE, ModelCard, ModelRegistry

if TYPE_CHECKING:
    import pandas as pd

# pandas, scikit-learn and skops load only for the commands that need a model (verify, predict):
# `list`, `show`, `rollback`, `prune` and `repair` start in a fraction of the time.


def _accuracy(card: ModelCard) -> str:
    return "-" if card.accuracy is None else f"{card.accuracy:.4f}"


def list_versions(registry: ModelRegistry, out: TextIO) -> int:
    """Every version in semver order, with its day, accuracy and whether it is live."""
    versions = registry.versions()
    if not versions:
        raise CliError(f"{registry.model_name}: no versions in {registry.root}")
    live = registry.live_version()
    out.write(f"{'version':<10} {'day':<10}  {'accuracy':>8}  {'estimator':<22} created\n")
    for version in versions:
        card = registry.card(version)
        mark = "  <- live" if version == live else ""
        out.write(
            f"{version:<10} {card.partition or '-':<10}  {_accuracy(card):>8}  "
            f"{card.estimator or '-':<22} {card.get('created_at', '-')}{mark}\n"
        )
    return 0


def show(registry: ModelRegistry, version: str, out: TextIO) -> int:
    """A version's card, as JSON."""
    if version == LIVE:
        live = registry.live_version()
        if live is None:
            raise CliError(f"{registry.model_name}: no version is live yet in {registry.root}")
        version = live
    card = registry.card(registry.resolve(version))
    out.write(json.dumps(card.facts, indent=2, sort_keys=True))
    out.write("\n")
    return 0


def verify(registry: ModelRegistry, versions: list[str], out: TextIO) -> int:
    """Check each version's file against its card's sha256 and load it; 1 if any fails."""
    chosen = versions or registry.versions()
    if not chosen:
        raise CliError(f"{registry.model_name}: no versions in {registry.root}")
    failures = 0
    for version in chosen:
        try:
            _serving().load_from(registry, version)
        except Exception as exc:  # every kind of damage is reported, then the next version
            failures += 1
            out.write(f"{version}: FAILED: {str(exc).splitlines()[0]}\n")
        else:
            out.write(f"{version}: ok\n")
    return 1 if failures else 0


def predict(
    registry: ModelRegistry,
    source: Path,
    version: str,
    output: Path | None,
    proba: bool,
    out: TextIO,
) -> int:
    """Score a CSV or Parquet file; write the rows with a `prediction` column (and one
    `proba_<class>` column per class) to `output`, or CSV to stdout."""
    if not source.is_file():
        raise CliError(f"{source}: no such file")
    from retrain_assets.data.validation import read_table

    model = _serving().load_from(registry, version)
    frame = read_table(source)
    result = frame.copy()
    if proba:  # one pass over the model: the prediction is the most probable class
        scores = model.predict_proba(frame, source=str(source))
        result["prediction"] = model.pipeline.classes_[scores.to_numpy().argmax(axis=1)]
        for column in scores.columns:
            result[f"proba_{column}"] = scores[column].to_numpy()
    else:
        result["prediction"] = model.predict(frame, source=str(source)).to_numpy()
    if output is None:
        result.to_csv(out, index=False)
    else:
        _write_table(result, output)
        print(
            f"{len(result)} row(s) scored by {registry.model_name} {model.version} -> {output}",
            file=sys.stderr,
        )
    return 0


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))
    elif path.suffix == ".csv":
        write_atomic(path, frame.to_csv(index=False).encode())
    else:
        raise CliError(f"{path}: the output must end in .csv or .parquet")


def rollback(registry: ModelRegistry, version: str, reason: str | None, out: TextIO) -> int:
    """Make a verified version live again; recorded in history.jsonl with who and why."""
    who = f"cli:{getpass.getuser()}"
    result = registry.rollback(version, run_id=who, reason=reason)
    if result.event == "unchanged":
        out.write(f"{result.version} is already live: nothing changed\n")
    else:
        out.write(
            f"{registry.model_name}: {result.previous_live or 'none'} -> {result.version} is "
            f"live (recorded as rolled_back by {who})\n"
        )
    return 0


def prune(registry: ModelRegistry, keep: int, dry_run: bool, out: TextIO) -> int:
    """Delete versions beyond the last `keep` live ones (never the live one or its previous)."""
    if keep < 1:
        raise CliError("--keep must be at least 1")
    doomed = registry.prunable(keep) if dry_run else registry.prune(keep, run_id="cli")
    verb = "would delete" if dry_run else "deleted"
    out.write(f"{verb} {len(doomed)} version(s){': ' + ', '.join(doomed) if doomed else ''}\n")
    return 0


def repair(registry: ModelRegistry, dry_run: bool, out: TextIO) -> int:
    """Verify every version, list strays, rebuild a broken current.json from history."""
    report = registry.repair(dry_run=dry_run)
    for line in report:
        out.write(line + "\n")
    if not report:
        out.write(f"{registry.model_name}: every version verifies, current.json is sound\n")
    return 0


def _serving() -> ModuleType:
    from retrain_assets import serving

    return serving
