"""Keeping a registry tidy and sound: retention (prune) and repair.

Each takes the registry's lock; ModelRegistry.prune/prunable/repair call these.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import TYPE_CHECKING

from retrain_assets.fsutil import fsync_dir
from retrain_assets.registry.rules import RegistryError, now

if TYPE_CHECKING:
    from retrain_assets.registry.store import ModelRegistry


def prunable(registry: ModelRegistry, keep: int) -> list[str]:
    """Versions no one can need once only the last `keep` live versions are kept.

    Never the live version, its `previous` (what "roll back to previous" needs), the last
    `keep` versions that went live (deployed or rolled back to), the highest version
    (numbering continues from it, so a version string is never reused), or a version the
    history does not account for (a lost or damaged history must not turn into deletions).
    """
    versions = registry.versions()
    if keep < 1 or not versions:
        return []
    live = registry.current()
    history = registry.history()
    recorded = {
        e["version"]
        for e in history
        if e.get("event") in ("deployed", "superseded") and isinstance(e.get("version"), str)
    }
    kept = {versions[-1], *((live.version, live.previous) if live else ())}
    kept |= set(registry.went_live(history)[:keep])
    return [v for v in versions if v not in kept and v in recorded]


def prune(registry: ModelRegistry, keep: int, *, run_id: str = "manual") -> list[str]:
    """Delete the versions `prunable(keep)` names, each recorded as `pruned` in history."""
    with registry._locked():
        pruned = registry.prunable(keep)
        for version in pruned:
            card = registry.card(version)
            # Renamed out of versions/ first: no reader ever sees half a version.
            doomed = registry.versions_dir / f".tmp-pruned-{version}-{uuid.uuid4().hex}"
            os.rename(registry.versions_dir / version, doomed)
            registry._append_history(
                {
                    "event": "pruned",
                    "version": version,
                    "partition": card.partition,
                    "run_id": run_id,
                    "at": now(),
                }
            )
            shutil.rmtree(doomed, ignore_errors=True)
        if pruned:
            fsync_dir(registry.versions_dir)
        return pruned


def repair(registry: ModelRegistry, *, dry_run: bool = False) -> list[str]:
    """Check the whole registry and fix what can be fixed safely; returns what it found.

    Versions are verified against their checksums (damaged ones are reported, never
    deleted); strays under versions/ are listed; a current.json that is unreadable or
    names a missing or damaged version is rebuilt from history.jsonl: the most recent
    version that went live and still verifies (recorded as `repaired`).
    """
    with registry._locked():
        if not dry_run:
            registry._clean_staging()
        report = [f"stray under versions/ (not a version, ignored): {name}"
                  for name in registry.strays()]  # fmt: skip
        healthy = []
        for version in registry.versions():
            try:
                registry.load_bytes(version)
            except RegistryError as exc:
                report.append(f"{version}: damaged: {exc}")
            else:
                healthy.append(version)
        try:
            live = registry.current()
            problem = (
                None
                if live is None or live.version in healthy
                else (f"current.json names {live.version}, which is missing or damaged")
            )
        except RegistryError as exc:
            live, problem = None, str(exc).split("; ")[0]
        if problem is None:
            return report
        report.append(problem)
        went_live = [v for v in registry.went_live() if v in healthy]
        if not went_live:
            report.append("no verified version ever went live: current.json left as is")
            return report
        version = went_live[0]
        report.append(f"current.json {'would point' if dry_run else 'points'} to {version}")
        if not dry_run:
            card = registry.card(version)
            registry._point_to(card, card.partition, "repair", "repaired", None,
                           reason=problem)  # fmt: skip
        return report
