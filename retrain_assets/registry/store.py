"""ModelRegistry: deploying and rolling back, safe against crashes and concurrent deploys.

Reading is files.py.

Layout under <root>/<model name>/:
    versions/<version>/model.skops, versions/<version>/card.json   (written once, never changed)
    current.json     the live version, replaced atomically
    history.jsonl    append-only: deployed, superseded, rolled_back, pruned, repaired

A version directory is built under a temporary name and renamed into place, so every directory
under versions/ is complete; current.json only ever names such a directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from retrain_assets.fsutil import dump_json, fsync_dir, write_atomic
from retrain_assets.registry import upkeep
from retrain_assets.registry.card import LivePointer, ModelCard
from retrain_assets.registry.files import RegistryFiles
from retrain_assets.registry.rules import (
    CARD_FILE,
    MODEL_FILE,
    DeployResult,
    RegistryChangedError,
    RegistryError,
    now,
)


class ModelRegistry(RegistryFiles):
    """The registry, read (files.py) and written: deploys, rollbacks, upkeep."""

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

    def _write_version(self, version: str, model_bytes: bytes, card: dict[str, Any]) -> None:
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        if (self.versions_dir / version).exists():
            raise RegistryError(
                f"{self.versions_dir / version} exists but is not a usable version; move it "
                f"away (`retrain-assets repair` lists what is wrong)"
            )
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

    def _recover_history(self, live: LivePointer | None) -> None:
        """Append the event of a pointer move whose history line a crash prevented."""
        if live is None:
            return
        key = (live.version, live.run_id, live.deployed_at)
        if any((e.get("version"), e.get("run_id"), e.get("at")) == key for e in self.history()):
            return
        self._append_history(
            {
                "event": live.event,
                "version": live.version,
                "partition": live.partition,
                "run_id": live.run_id,
                "at": live.deployed_at,
                "previous": live.previous,
                "recovered": True,
            }
        )

    def _point_to(
        self,
        card: ModelCard,
        partition: str,
        run_id: str,
        event: str,
        previous: str | None,
        reason: str | None = None,
        decided_through: str | None = None,
    ) -> None:
        at = now()
        pointer = LivePointer(
            version=card.version,
            partition=partition,
            sha256=card.sha256,
            run_id=run_id,
            deployed_at=at,
            event=event,
            previous=previous,
            decided_through=decided_through,
        )
        write_atomic(self.current_path, dump_json(pointer.as_dict()))
        self._append_history(
            {
                "event": event,
                "version": card.version,
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
            facts = ModelCard.from_dict(card)
            result = self.snapshot().plan(
                sha256=digest,
                features=facts.features,
                estimator=facts.estimator,
                partition=partition,
                source=facts.source,
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
                    "created_at": now(),
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
                        "at": now(),
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
        if not live.previous:
            raise RegistryError(
                f"{self.model_name}: {live.version} is the first live version; "
                "name a version to roll back to"
            )
        return live.previous

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
            previous = live.version if live else None
            if previous == version:
                return DeployResult(version, "unchanged", previous, previous, False)
            card = self.card(version)
            newest = max(card.partition, (live.newest_decided if live else None) or "")
            self._point_to(
                card,
                card.partition,
                run_id,
                "rolled_back",
                previous,
                reason=reason,
                decided_through=newest if newest != card.partition else None,
            )
            return DeployResult(version, "rolled_back", previous, version, False)

    # ---- upkeep (upkeep.py) ------------------------------------------------------------------
    def prunable(self, keep: int) -> list[str]:
        return upkeep.prunable(self, keep)

    def prune(self, keep: int, *, run_id: str = "manual") -> list[str]:
        return upkeep.prune(self, keep, run_id=run_id)

    def repair(self, *, dry_run: bool = False) -> list[str]:
        return upkeep.repair(self, dry_run=dry_run)
