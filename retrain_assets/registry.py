"""A versioned model registry on a filesystem, safe against crashes and concurrent deploys.

Layout under <root>/<model name>/:
    versions/<version>/model.skops, versions/<version>/card.json   (written once, never changed)
    current.json     the live version, replaced atomically
    history.jsonl    append-only: deployed, superseded, rolled_back, pruned

A version directory is built under a temporary name and renamed into place, so every directory
under versions/ is complete; current.json only ever names such a directory.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain_assets.fsutil import dump_json, fsync_dir, write_atomic

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
FIRST_VERSION = "0.1.0"
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
REPAIR_HINT = "run `retrain-assets repair` to check the registry and rebuild current.json"


class RegistryError(RuntimeError):
    """The registry is missing something or holds a file that fails its checksum."""


@dataclass(frozen=True)
class DeployResult:
    version: str
    event: str  # "deployed", "superseded" or "unchanged" (identical artifact already live)
    previous_live: str | None
    live: str | None
    created: bool  # whether a new version directory was written


class RegistryChangedError(RegistryError):
    """The registry moved between a day's evaluation and its deploy (another writer)."""


@dataclass(frozen=True)
class VersionEntry:
    """What deciding a deploy needs to know about a published version."""

    version: str
    sha256: str
    features: tuple[str, ...]
    estimator: str | None


@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry's decision state: its versions in semver order and the live pointer.

    `plan` is the one rule for what a deploy does. A day's evaluation plans against a snapshot
    and the registry re-plans under its lock, so a registry moved in between is noticed.
    """

    versions: tuple[VersionEntry, ...] = ()
    live_version: str | None = None
    live_partition: str | None = None

    def plan(
        self, *, sha256: str, features: list[str], estimator: str | None, partition: str
    ) -> DeployResult:
        """What deploying this artifact for `partition` does (the one deploy rule)."""
        existing = next((v for v in self.versions if v.sha256 == sha256), None)
        if existing is None:
            latest = self.versions[-1] if self.versions else None
            version = next_version(
                None
                if latest is None
                else {
                    "version": latest.version,
                    "features": list(latest.features),
                    "estimator": latest.estimator,
                },
                {"features": list(features), "estimator": estimator},
            )
        else:
            version = existing.version
        previous, created = self.live_version, existing is None
        if previous == version:
            return DeployResult(version, "unchanged", previous, previous, created)
        if previous is None or partition >= (self.live_partition or ""):
            return DeployResult(version, "deployed", previous, version, created)
        # An older day (a backfill) never moves the live model backwards.
        return DeployResult(version, "superseded", previous, previous, created)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def version_key(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(p) for p in version.split("."))
    return major, minor, patch


def next_version(latest: Mapping[str, Any] | None, card: Mapping[str, Any]) -> str:
    """Patch for a retrain of the same model; minor when the features or the estimator change."""
    if latest is None:
        return FIRST_VERSION
    major, minor, patch = version_key(latest["version"])
    same_kind = list(latest.get("features", [])) == list(card.get("features", [])) and latest.get(
        "estimator"
    ) == card.get("estimator")
    return f"{major}.{minor}.{patch + 1}" if same_kind else f"{major}.{minor + 1}.0"


class ModelRegistry:
    def __init__(self, root: Path, model_name: str) -> None:
        self.root = Path(root) / model_name
        self.model_name = model_name
        self.versions_dir = self.root / "versions"
        self.current_path = self.root / "current.json"
        self.history_path = self.root / "history.jsonl"

    # ---- reading -------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Version directories in semver order; anything else there is a stray (strays())."""
        if not self.versions_dir.is_dir():
            return []
        names = [p.name for p in self.versions_dir.iterdir() if SEMVER.match(p.name)]
        return sorted(names, key=version_key)

    def strays(self) -> list[str]:
        """Names under versions/ that are not versions (a person's copy, a backup, a note)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.versions_dir.iterdir()
            if not SEMVER.match(p.name) and not p.name.startswith(".")
        )

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            value = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{path}: not valid JSON ({exc}); {REPAIR_HINT}") from None
        if not isinstance(value, dict):
            raise RegistryError(f"{path}: not a JSON object; {REPAIR_HINT}")
        return value

    def card(self, version: str) -> dict[str, Any]:
        path = self.versions_dir / version / CARD_FILE
        if not SEMVER.match(version) or not path.exists():
            raise RegistryError(f"{self.model_name}: version {version} does not exist ({path})")
        return self._read_json(path)

    def current(self) -> dict[str, Any] | None:
        if not self.current_path.exists():
            return None
        live = self._read_json(self.current_path)
        if not isinstance(live.get("version"), str) or not SEMVER.match(live["version"]):
            raise RegistryError(f"{self.current_path}: names no version; {REPAIR_HINT}")
        return live

    def live_card(self) -> dict[str, Any] | None:
        live = self.current()
        return None if live is None else self.card(live["version"])

    def load_bytes(self, version: str) -> bytes:
        """The model file of a version, after checking it against the card's sha256."""
        card = self.card(version)
        data = (self.versions_dir / version / MODEL_FILE).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != card["sha256"]:
            raise RegistryError(
                f"{self.model_name} {version}: {MODEL_FILE} sha256 {digest} does not match "
                f"card.json {card['sha256']}; the file was altered or damaged"
            )
        return data

    def history(self) -> list[dict[str, Any]]:
        if not self.history_path.exists():
            return []
        events = []
        for line in self.history_path.read_bytes().splitlines():
            try:
                event = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a line cut short by a crash mid-append, or damaged by hand
            if isinstance(event, dict):
                events.append(event)
        return events

    # ---- writing -------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        # One deploy at a time per model, across processes (runs, retries, manual deploys).
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _append_history(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True) + "\n"
        fd = os.open(self.history_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.fchmod(fd, 0o644)  # readable by other users whatever the umask
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line  # a line cut short by a crash must not swallow this one
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def snapshot(self) -> RegistrySnapshot:
        """The versions and the live pointer, as the deploy rule sees them."""
        entries = []
        for version in self.versions():
            card = self.card(version)
            entries.append(
                VersionEntry(
                    version,
                    card.get("sha256", ""),
                    tuple(card.get("features", [])),
                    card.get("estimator"),
                )
            )
        live = self.current()
        return RegistrySnapshot(
            tuple(entries),
            live["version"] if live else None,
            live.get("partition") if live else None,
        )

    def _write_version(self, version: str, model_bytes: bytes, card: dict[str, Any]) -> None:
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = self.versions_dir / f".tmp-{version}-{uuid.uuid4().hex}"
        staging.mkdir()
        staging.chmod(0o755)  # a serving process running as another user reads it
        write_atomic(staging / MODEL_FILE, model_bytes)
        write_atomic(staging / CARD_FILE, dump_json(card))
        os.rename(staging, self.versions_dir / version)  # the version appears whole or not at all
        fsync_dir(self.versions_dir)

    def _clean_staging(self) -> None:
        if self.versions_dir.is_dir():
            for leftover in self.versions_dir.glob(".tmp-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        # A temporary current.json left by a process killed inside write_atomic (we hold the lock).
        for leftover in self.root.glob(f".{self.current_path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)

    def _recover_history(self, live: Mapping[str, Any] | None) -> None:
        """Append the event of a pointer move whose history line a crash prevented."""
        if live is None:
            return
        key = (live["version"], live.get("run_id"), live.get("deployed_at"))
        if any((e.get("version"), e.get("run_id"), e.get("at")) == key for e in self.history()):
            return
        self._append_history(
            {
                "event": live.get("event", "deployed"),
                "version": live["version"],
                "partition": live.get("partition"),
                "run_id": live.get("run_id"),
                "at": live.get("deployed_at"),
                "previous": live.get("previous"),
                "recovered": True,
            }
        )

    def _point_to(
        self,
        card: Mapping[str, Any],
        partition: str,
        run_id: str,
        event: str,
        previous: str | None,
        reason: str | None = None,
    ) -> None:
        at = _now()
        pointer = {
            "version": card["version"],
            "partition": partition,
            "sha256": card["sha256"],
            "run_id": run_id,
            "deployed_at": at,
            "event": event,
            "previous": previous,
        }
        write_atomic(self.current_path, dump_json(pointer))
        self._append_history(
            {
                "event": event,
                "version": card["version"],
                "partition": partition,
                "run_id": run_id,
                "at": at,
                "previous": previous,
                **({"reason": reason} if reason else {}),
            }
        )

    def deploy(
        self,
        model_bytes: bytes,
        card: Mapping[str, Any],
        *,
        partition: str,
        run_id: str,
        expected: DeployResult | None = None,
    ) -> DeployResult:
        """Publish a model and move the live pointer to it unless that would go backwards.

        `card` carries the facts to record (metrics, threshold, estimator, params, features, data
        fingerprint, code version); version, partition, sha256, run_id and created_at are added.
        With `expected` (what the day's evaluation planned against its snapshot), a registry
        that has moved since raises RegistryChangedError and changes nothing.
        """
        digest = hashlib.sha256(model_bytes).hexdigest()
        with self._locked():
            self._clean_staging()
            live = self.current()
            self._recover_history(live)
            result = self.snapshot().plan(
                sha256=digest,
                features=list(card.get("features", [])),
                estimator=card.get("estimator"),
                partition=partition,
            )
            if expected is not None and (result.version, result.event) != (
                expected.version,
                expected.event,
            ):
                raise RegistryChangedError(
                    f"{self.model_name}: the registry changed after {partition} was evaluated "
                    f"(planned {expected.event} {expected.version} with live "
                    f"{expected.previous_live or 'none'}; now {result.event} {result.version} "
                    f"with live {result.previous_live or 'none'}); re-run {partition}"
                )
            if result.created:
                full_card = {
                    **card,
                    "model": self.model_name,
                    "version": result.version,
                    "partition": partition,
                    "sha256": digest,
                    "run_id": run_id,
                    "created_at": _now(),
                }
                self._write_version(result.version, model_bytes, full_card)
            if result.event == "deployed":
                stored = self.card(result.version)
                self._point_to(stored, partition, run_id, "deployed", result.previous_live)
            elif result.event == "superseded":
                self._append_history(
                    {
                        "event": "superseded",
                        "version": result.version,
                        "partition": partition,
                        "run_id": run_id,
                        "at": _now(),
                        "live": result.previous_live,
                    }
                )
            return result

    def resolve(self, version: str) -> str:
        """A version string, or "previous": the version live before the current one."""
        if version != "previous":
            return version
        live = self.current()
        if live is None:
            raise RegistryError(f"{self.model_name}: nothing is live, so there is no previous")
        if not live.get("previous"):
            raise RegistryError(
                f"{self.model_name}: {live['version']} is the first live version; "
                "name a version to roll back to"
            )
        return live["previous"]

    def rollback(
        self, version: str, *, run_id: str = "manual", reason: str | None = None
    ) -> DeployResult:
        """Make an existing, checksum-verified version live again ("previous" allowed).

        Rolling back to the live version changes nothing and says so (event "unchanged").
        """
        with self._locked():
            version = self.resolve(version)
            self.load_bytes(version)
            live = self.current()
            self._recover_history(live)
            previous = (live or {}).get("version")
            if previous == version:
                return DeployResult(version, "unchanged", previous, previous, False)
            card = self.card(version)
            self._point_to(
                card, card["partition"], run_id, "rolled_back", previous, reason=reason
            )
            return DeployResult(version, "rolled_back", previous, version, False)

    def prunable(self, keep: int) -> list[str]:
        """Versions no one can need once only the last `keep` live versions are kept.

        Never the live version, its `previous` (what "roll back to previous" needs), the last
        `keep` versions that went live (deployed or rolled back to), or the highest version
        (numbering continues from it, so a version string is never reused).
        """
        versions = self.versions()
        if keep < 1 or not versions:
            return []
        live = self.current() or {}
        went_live = [
            e["version"]
            for e in reversed(self.history())
            if e.get("event") in ("deployed", "rolled_back") and e.get("version")
        ]
        kept = {versions[-1], live.get("version"), live.get("previous")}
        kept |= set(list(dict.fromkeys(went_live))[:keep])
        return [v for v in versions if v not in kept]

    def prune(self, keep: int, *, run_id: str = "manual") -> list[str]:
        """Delete the versions `prunable(keep)` names, each recorded as `pruned` in history."""
        with self._locked():
            pruned = self.prunable(keep)
            for version in pruned:
                card = self.card(version)
                # Renamed out of versions/ first: no reader ever sees half a version.
                doomed = self.versions_dir / f".tmp-pruned-{version}-{uuid.uuid4().hex}"
                os.rename(self.versions_dir / version, doomed)
                self._append_history(
                    {
                        "event": "pruned",
                        "version": version,
                        "partition": card.get("partition"),
                        "run_id": run_id,
                        "at": _now(),
                    }
                )
                shutil.rmtree(doomed, ignore_errors=True)
            if pruned:
                fsync_dir(self.versions_dir)
            return pruned

    def repair(self, *, dry_run: bool = False) -> list[str]:
        """Check the whole registry and fix what can be fixed safely; returns what it found.

        Versions are verified against their checksums (damaged ones are reported, never
        deleted); strays under versions/ are listed; a current.json that is unreadable or
        names a missing or damaged version is rebuilt from history.jsonl: the most recent
        version that went live and still verifies (recorded as `repaired`).
        """
        with self._locked():
            if not dry_run:
                self._clean_staging()
            report = [f"stray under versions/ (not a version, ignored): {name}"
                      for name in self.strays()]  # fmt: skip
            healthy = []
            for version in self.versions():
                try:
                    self.load_bytes(version)
                except RegistryError as exc:
                    report.append(f"{version}: damaged: {exc}")
                else:
                    healthy.append(version)
            try:
                live = self.current()
                problem = None if live is None or live["version"] in healthy else (
                    f"current.json names {live['version']}, which is missing or damaged"
                )
            except RegistryError as exc:
                live, problem = None, str(exc).split("; ")[0]
            if problem is None:
                return report
            report.append(problem)
            went_live = [
                e for e in reversed(self.history())
                if e.get("event") in ("deployed", "rolled_back", "repaired")
                and e.get("version") in healthy
            ]  # fmt: skip
            if not went_live:
                report.append("no verified version ever went live: current.json left as is")
                return report
            version = went_live[0]["version"]
            report.append(f"current.json {'would point' if dry_run else 'points'} to {version}")
            if not dry_run:
                card = self.card(version)
                self._point_to(card, card["partition"], "repair", "repaired", None,
                               reason=problem)  # fmt: skip
            return report

