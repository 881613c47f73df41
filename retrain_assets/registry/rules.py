"""The registry's rules, without I/O: version numbers, the one deploy rule, the errors."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
FIRST_VERSION = "0.1.0"
LIVE = "live"  # names the live version wherever a version is asked for
SEMVER = re.compile(r"\d+\.\d+\.\d+\Z")  # \Z: "0.1.0\n" is not a version
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
    source: str | None = None  # "demo" or "landing"; None on cards from before it was recorded


@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry's decision state: its versions in semver order and the live pointer.

    `plan` is the one rule for what a deploy does. A day's evaluation plans against a snapshot
    and the registry re-plans under its lock, so a registry moved in between is noticed.
    """

    versions: tuple[VersionEntry, ...] = ()
    live_version: str | None = None
    live_partition: str | None = None

    @property
    def live_source(self) -> str | None:
        return next((v.source for v in self.versions if v.version == self.live_version), None)

    def plan(
        self,
        *,
        sha256: str,
        features: list[str],
        estimator: str | None,
        partition: str,
        source: str | None = None,
    ) -> DeployResult:
        """What deploying this artifact for `partition` does (the one deploy rule)."""
        existing = next((v for v in self.versions if v.sha256 == sha256), None)
        if existing is None:
            latest = self.versions[-1] if self.versions else None
            version = next_version(latest, features, estimator, source)
        else:
            version = existing.version
        previous, created = self.live_version, existing is None
        if previous == version:
            return DeployResult(version, "unchanged", previous, previous, created)
        if previous is None or partition >= (self.live_partition or ""):
            return DeployResult(version, "deployed", previous, version, created)
        if switched_source(self.live_source, source):
            # A live model of another data source (the demo, before the user's own data) is no
            # newer than this day's: it cannot score this data, so it never pins the registry.
            return DeployResult(version, "deployed", previous, version, created)
        # An older day (a backfill) never moves the live model backwards.
        return DeployResult(version, "superseded", previous, previous, created)


def switched_source(before: str | None, now: str | None) -> bool:
    """Whether two models come from different data sources (unknown on either side: no)."""
    return before is not None and now is not None and before != now


def version_key(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(p) for p in version.split("."))
    return major, minor, patch


def next_version(
    latest: VersionEntry | None, features: list[str], estimator: str | None, source: str | None
) -> str:
    """Patch for a retrain of the same model; minor when the features, the estimator or the
    data source change."""
    if latest is None:
        return FIRST_VERSION
    major, minor, patch = version_key(latest.version)
    same_kind = (
        sorted(latest.features) == sorted(features)
        and latest.estimator == estimator
        and not switched_source(latest.source, source)
    )
    return f"{major}.{minor}.{patch + 1}" if same_kind else f"{major}.{minor + 1}.0"


def now() -> str:
    """The registry's timestamps: UTC, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
