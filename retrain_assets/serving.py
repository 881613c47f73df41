"""Using a published model: load a version, checked, and predict with features by name.

The file's checksum is verified and only trusted types load.

    from retrain_assets.serving import load_model
    model = load_model()                      # the live version of RETRAIN_MODEL_NAME
    model = load_model("0.1.3", registry_dir="/srv/registry", model_name="churn")
    labels = model.predict(frame_or_csv_or_parquet_path)
    scores = model.predict_proba(frame)       # one column per class
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from retrain_assets.data.validation import (
    TIMESTAMP_COLUMN,
    check_header,
    numeric_feature,
    read_table,
)
from retrain_assets.ml.model_file import model_from_bytes
from retrain_assets.registry import LIVE, ModelCard, ModelRegistry, RegistryError, open_registry


class FeatureMismatchError(ValueError):
    """The rows to score do not carry the model's features (missing or unknown columns)."""


@dataclass(frozen=True)
class PublishedModel:
    """A registry version ready to score rows; `card` is its card.json (a ModelCard)."""

    version: str
    card: ModelCard
    pipeline: Pipeline

    @property
    def features(self) -> list[str]:
        return list(self.card.features)

    @property
    def classes(self) -> list[Any]:
        return list(self.card.classes or self.pipeline.classes_)

    def matrix(self, data: pd.DataFrame | str | Path, source: str | None = None) -> np.ndarray:
        """The model's features from `data`, in the model's order, as numbers.

        The label column and `timestamp` may be present (a labelled file scores as is); any
        other column the model was not trained on, or a missing one, is an error: a column
        renamed upstream must not be scored as something else.
        """
        if not isinstance(data, pd.DataFrame):
            source = source or str(data)
            data = read_table(Path(data))
        source = source or "the rows to score"
        columns = [str(c) for c in data.columns]
        try:
            check_header(columns, source)
        except ValueError as exc:
            raise FeatureMismatchError(str(exc)) from None
        ignored = {self.card.target, TIMESTAMP_COLUMN} - {None}
        missing = [f for f in self.features if f not in columns]
        unknown = [c for c in columns if c not in self.features and c not in ignored]
        if missing or unknown:
            parts = [f"missing {missing}"] if missing else []
            parts += [f"not features of the model {unknown}"] if unknown else []
            raise FeatureMismatchError(
                f"{source}: {'; '.join(parts)}; {self.card.get('model', 'the model')} "
                f"{self.version} expects exactly {self.features}"
            )
        if len(data) == 0:
            raise FeatureMismatchError(f"{source}: no rows to score")
        data = data.set_axis(columns, axis=1)
        return np.column_stack([numeric_feature(data, f, source) for f in self.features])

    def predict(self, data: pd.DataFrame | str | Path, source: str | None = None) -> pd.Series:
        """The predicted class of each row (index kept when `data` is a frame); `source` names
        the rows in errors (a path names itself)."""
        index = data.index if isinstance(data, pd.DataFrame) else None
        predicted = self.pipeline.predict(self.matrix(data, source))
        return pd.Series(predicted, index=index, name="prediction")

    def predict_proba(
        self, data: pd.DataFrame | str | Path, source: str | None = None
    ) -> pd.DataFrame:
        """Each class's probability per row, one column per class."""
        index = data.index if isinstance(data, pd.DataFrame) else None
        scores = self.pipeline.predict_proba(self.matrix(data, source))
        return pd.DataFrame(scores, index=index, columns=[str(c) for c in self.pipeline.classes_])


def load_model(
    version: str = LIVE,
    *,
    registry_dir: str | Path | None = None,
    model_name: str | None = None,
) -> PublishedModel:
    """A version ("live", "previous" or a version string), checksum verified, trusted types
    only."""
    return load_from(open_registry(registry_dir, model_name), version)


def load_from(registry: ModelRegistry, version: str = LIVE) -> PublishedModel:
    if not isinstance(version, str):
        raise RegistryError(f"version must be 'live', 'previous' or X.Y.Z, not {version!r}")
    if version == LIVE:
        live = registry.live_version()
        if live is None:
            raise RegistryError(f"{registry.model_name}: no version is live yet in {registry.root}")
        version = live
    version = registry.resolve(version)
    data = registry.load_bytes(version)  # raises if the file fails its checksum
    return PublishedModel(version, registry.card(version), model_from_bytes(data))
