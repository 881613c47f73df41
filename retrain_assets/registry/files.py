"""Reading a registry folder: its versions, cards, live pointer and history, each checked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from retrain_assets.registry.card import LivePointer, ModelCard
from retrain_assets.registry.rules import (
    CARD_FILE,
    MODEL_FILE,
    REPAIR_HINT,
    SEMVER,
    RegistryError,
    RegistrySnapshot,
    VersionEntry,
    version_key,
)


class RegistryFiles:
    """What <root>/<model name>/ holds, read and checked; nothing here writes."""

    def __init__(self, root: Path, model_name: str) -> None:
        self.root = Path(root) / model_name
        self.model_name = model_name
        self.versions_dir = self.root / "versions"
        self.current_path = self.root / "current.json"
        self.history_path = self.root / "history.jsonl"

    def versions(self) -> list[str]:
        """Version directories in semver order; anything else there is a stray (strays())."""
        if not self.versions_dir.is_dir():
            return []
        return sorted((p.name for p in self.versions_dir.iterdir() if self._is_version(p)),
                      key=version_key)  # fmt: skip

    @staticmethod
    def _is_version(path: Path) -> bool:
        """A complete version: a semver-named directory holding its card and its model."""
        return (
            SEMVER.match(path.name) is not None
            and (path / CARD_FILE).is_file()
            and (path / MODEL_FILE).is_file()
        )

    def strays(self) -> list[str]:
        """Names under versions/ that are not versions (a person's copy, a backup, a note)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(
            p.name
            for p in self.versions_dir.iterdir()
            if not self._is_version(p) and not p.name.startswith(".")
        )

    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            value = json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise RegistryError(f"{path}: not valid JSON ({why}); {REPAIR_HINT}") from None
        except OSError as exc:
            raise RegistryError(f"{path}: unreadable ({exc.strerror}); {REPAIR_HINT}") from None
        if not isinstance(value, dict):
            raise RegistryError(f"{path}: not a JSON object; {REPAIR_HINT}")
        return value

    def card(self, version: str) -> ModelCard:
        path = self.versions_dir / version / CARD_FILE
        if not SEMVER.match(version) or not path.exists():
            raise RegistryError(f"{self.model_name}: version {version} does not exist ({path})")
        card = self._read_json(path)
        shapes = {"sha256": str, "partition": str, "features": list}
        for key, kind in shapes.items():
            if not isinstance(card.get(key), kind):
                raise RegistryError(f"{path}: '{key}' is missing or not a {kind.__name__}")
        return ModelCard.from_dict(card)

    def current(self) -> LivePointer | None:
        if not self.current_path.exists():
            return None
        live = self._read_json(self.current_path)
        if not isinstance(live.get("version"), str) or not SEMVER.match(live["version"]):
            raise RegistryError(f"{self.current_path}: names no version; {REPAIR_HINT}")
        for key in ("partition", "previous", "decided_through"):
            if live.get(key) is not None and not isinstance(live[key], str):
                raise RegistryError(f"{self.current_path}: '{key}' is not text; {REPAIR_HINT}")
        return LivePointer.from_dict(live)

    def live_version(self) -> str | None:
        """The version current.json names, or None before the first deploy."""
        live = self.current()
        return live.version if live else None

    def load_bytes(self, version: str) -> bytes:
        """The model file of a version, after checking it against the card's sha256."""
        card = self.card(version)
        try:
            data = (self.versions_dir / version / MODEL_FILE).read_bytes()
        except OSError as exc:
            raise RegistryError(
                f"{self.model_name} {version}: {MODEL_FILE} unreadable ({exc.strerror})"
            ) from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != card.sha256:
            raise RegistryError(
                f"{self.model_name} {version}: {MODEL_FILE} sha256 {digest} does not match "
                f"card.json {card.sha256}; the file was altered or damaged"
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

    def went_live(self, history: list[dict[str, Any]] | None = None) -> list[str]:
        """Versions that were made live (deployed, rolled back to, repaired), most recent
        first, each once."""
        events = self.history() if history is None else history
        live_events = ("deployed", "rolled_back", "repaired")
        versions = [
            e["version"]
            for e in reversed(events)
            if e.get("event") in live_events and isinstance(e.get("version"), str)
        ]
        return list(dict.fromkeys(versions))

    def snapshot(self) -> RegistrySnapshot:
        """The versions and the live pointer, as the deploy rule sees them."""
        entries = []
        for version in self.versions():
            try:
                card = self.card(version)
            except RegistryError:  # a hand-damaged card: not a version to plan with
                continue
            entries.append(
                VersionEntry(
                    version,
                    card.sha256,
                    tuple(card.features),
                    card.estimator,
                    card.source,
                )
            )
        live = self.current()
        return RegistrySnapshot(
            tuple(entries),
            live.version if live else None,
            live.newest_decided if live else None,
        )
