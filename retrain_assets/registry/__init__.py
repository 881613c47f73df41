"""The versioned model registry: rules.py (version numbers, the deploy rule, errors), store.py
(ModelRegistry: read, deploy, roll back), upkeep.py (prune, repair). No Dagster here."""

from retrain_assets.registry.rules import (
    CARD_FILE,
    FIRST_VERSION,
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

__all__ = [
    "CARD_FILE",
    "FIRST_VERSION",
    "MODEL_FILE",
    "DeployResult",
    "ModelRegistry",
    "RegistryChangedError",
    "RegistryError",
    "RegistrySnapshot",
    "VersionEntry",
    "next_version",
    "switched_source",
    "version_key",
]
