"""The versioned model registry on a filesystem, without Dagster.

rules.py (version numbers, the deploy rule, errors), card.py (ModelCard, LivePointer), files.py
(reading, checked), store.py (ModelRegistry: deploy, roll back), upkeep.py (prune, repair).
"""

from pathlib import Path

from retrain_assets.registry.card import LivePointer, ModelCard
from retrain_assets.registry.rules import (
    CARD_FILE,
    FIRST_VERSION,
    LIVE,
    MODEL_FILE,
    DeployResult,
    RegistryChangedError,
    RegistryError,
    RegistrySnapshot,
    VersionEntry,
    next_version,
    switched_source,
    version_key,
)
from retrain_assets.registry.store import ModelRegistry
from retrain_assets.settings import settings


def open_registry(registry_dir: str | Path | None = None, model_name: str | None = None):
    """The registry the service writes to (RETRAIN_REGISTRY_DIR, RETRAIN_MODEL_NAME) unless
    given explicitly."""
    if registry_dir is None or model_name is None:
        configured = settings()
        registry_dir = configured.registry_dir if registry_dir is None else registry_dir
        model_name = configured.model_name if model_name is None else model_name
    return ModelRegistry(Path(registry_dir), model_name)


__all__ = [
    "CARD_FILE",
    "FIRST_VERSION",
    "LIVE",
    "MODEL_FILE",
    "DeployResult",
    "LivePointer",
    "ModelCard",
    "ModelRegistry",
    "RegistryChangedError",
    "RegistryError",
    "RegistrySnapshot",
    "VersionEntry",
    "next_version",
    "open_registry",
    "switched_source",
    "version_key",
]
