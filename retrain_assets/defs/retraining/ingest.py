"""raw_dataset: each day's labelled rows from the source, validated and stored as Parquet."""

from typing import Any

import dagster as dg
import pandas as pd

from retrain_assets.artifacts import ArtifactStore
from retrain_assets.data.sources import DataSource
from retrain_assets.data.validation import content_hash

GROUP = "retraining"

raw_dataset = dg.AssetSpec(
    "raw_dataset",
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    skippable=True,
    description="The labelled rows that arrived for the day, validated (schema, nulls, labels, "
    "minimum rows) and stored as Parquet.",
)


def _cell(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _preview(frame: pd.DataFrame) -> dg.TableMetadataValue:
    head = frame.head(5)
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({str(k): _cell(v) for k, v in row.items()})
            for row in head.to_dict(orient="records")
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(str(c), str(t)) for c, t in head.dtypes.items()]
        ),
    )


def ingest(
    day: str, source: DataSource, store: ArtifactStore, target: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Load and store one day; raises NoDataError or DataValidationError for a bad day.

    A day without usable data is dropped from storage, so no later window trains on rows that
    were taken back or are now invalid.
    """
    try:
        frame, origin = source.load(day)
    except Exception:
        store.drop_raw(day)
        raise
    path = store.write_raw(day, frame)
    balance = frame[target].value_counts(normalize=True).round(4)
    metadata = {
        "dagster/row_count": len(frame),
        "source": origin,
        "path": dg.MetadataValue.path(str(path)),
        "class_balance": {str(k): float(v) for k, v in balance.items()},
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()]
        ),
        "content_hash": content_hash(frame),
        "preview": _preview(frame),
    }
    return frame, metadata
