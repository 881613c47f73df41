"""trained_model: a classifier fitted on the older rows of the day's rolling window."""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg
import pandas as pd

from retrain_assets.artifacts import ArtifactStore
from retrain_assets.data.sources import DataSource
from retrain_assets.data.validation import DataValidationError, NoDataError
from retrain_assets.defs.partitions import window_of
from retrain_assets.defs.retraining.ingest import GROUP, raw_dataset
from retrain_assets.ml.fit import DEFAULT_ESTIMATOR, TrainedModel, fit_window, refit
from retrain_assets.ml.info import ModelInfo
from retrain_assets.ml.model_file import code_version, model_to_bytes, sha256
from retrain_assets.ml.window import Window, assemble_window

trained_model = dg.AssetSpec(
    "trained_model",
    group_name=GROUP,
    kinds={"scikitlearn"},
    skippable=True,
    # Day to day on the graph: raw_dataset[D] -> trained_model[D]. The window itself comes from
    # partitions.window_mapping (window_of). Declared on this edge, it would make Dagster target
    # the W-1 days after a selection too, and refuse UI backfills of this one, non-subsettable
    # op ("Targeted subset must match between every key in a non-subsettable multi-asset").
    deps=[raw_dataset],
    description="A classifier fitted on the rolling window of raw_dataset days "
    "(RETRAIN_WINDOW_DAYS); the newest rows are held out and never used for fitting.",
)


@dataclass(frozen=True)
class TrainingChoice:
    estimator: str = DEFAULT_ESTIMATOR
    hyperparameters: dict[str, Any] | None = None
    holdout_fraction: float = 0.2
    min_train_rows: int = 50


@dataclass
class Candidate:
    """A day's trained model as the later steps need it."""

    model: TrainedModel
    model_bytes: bytes
    info: ModelInfo
    holdout: pd.DataFrame
    window: Window  # every row, for the refit once the gate passed


def publishable(candidate: Candidate, target: str, *, refit_window: bool) -> Candidate:
    """What the registry gets once the gate passed: the candidate fitted again on its whole
    window (RETRAIN_REFIT), or the judged model's own file."""
    if refit_window:
        model = refit(candidate.model, candidate.window, target)
        model_bytes = model_to_bytes(model.pipeline)
        info = candidate.info.refitted(model, sha256(model_bytes))
        return replace(candidate, model=model, model_bytes=model_bytes, info=info)
    return replace(candidate, info=candidate.info.published_as(candidate.info.sha256))


def _window_frames(
    days: list[str],
    frames: dict[str, pd.DataFrame],
    store: ArtifactStore,
    source: DataSource,
    log: Callable[[str], None],
) -> dict[str, str]:
    """Fill `frames` with each window day: given, from storage, or from the source."""
    origins: dict[str, str] = {}
    from_source: list[str] = []
    for day in days:
        if day in frames:
            origins[day] = f"raw_dataset {day}"
            continue
        stored = store.read_raw(day)
        if stored is not None:
            frames[day], origins[day] = stored, str(store.raw_path(day))
            continue
        try:
            frames[day], origins[day] = source.load(day)
            from_source.append(day)
        except NoDataError:
            if day == days[-1]:
                raise
        except DataValidationError as exc:
            if day == days[-1]:
                raise
            log(f"{day} left out of the window: {exc}")
    if from_source:
        log(f"not ingested yet, read from the source: {', '.join(from_source)}")
    return origins


def train(
    day: str,
    frames: dict[str, pd.DataFrame],
    *,
    store: ArtifactStore,
    source: DataSource,
    target: str,
    choice: TrainingChoice,
    run_id: str,
    log: Callable[[str], None],
) -> tuple[Candidate, dict[str, Any]]:
    """Fit the day's model on its window and store it; the metadata for trained_model[day].

    `frames` holds the days already in memory (the day just ingested); the rest of the window
    is read into it, and consumed while the window is assembled.
    """
    days = window_of(day)
    origins = _window_frames(days, frames, store, source, log)
    window = assemble_window(frames, origins, days, target, consume=True)
    for reason in window.days_left_out.values():
        log(f"left out of the window: {reason}")
    model, holdout = fit_window(
        window,
        target=target,
        holdout_fraction=choice.holdout_fraction,
        min_train_rows=choice.min_train_rows,
        estimator=choice.estimator,
        params=choice.hyperparameters or {},
    )
    model_bytes = model_to_bytes(model.pipeline)
    info = ModelInfo.of(
        model,
        sha256(model_bytes),
        partition=day,
        target=target,
        days_missing=window.days_missing,
        days_left_out=sorted(window.days_left_out),
        source=source.kind,
        code_version=code_version(),
        run_id=run_id,
    )
    store.write_model(day, model_bytes, info.as_dict(), holdout)
    metadata = {
        "rows": model.fit_rows + model.holdout_rows,
        "fit_rows": model.fit_rows,
        "holdout_rows": model.holdout_rows,
        "features": len(model.features),
        "feature_names": model.features,
        "estimator": model.estimator,
        "params": info.params,
        "fit_seconds": round(model.fit_seconds, 3),
        "artifact_sha256": info.sha256,
        "data_fingerprint": model.data_fingerprint,
        "window": f"{window.days_used[0]}..{day}",
        "days_missing": window.days_missing,
        "days_left_out": sorted(window.days_left_out),
        "source": source.kind,
    }
    return Candidate(model, model_bytes, info, holdout, window), metadata
