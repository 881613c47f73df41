"""serving.py: load a published model and predict by feature name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrain_assets.registry import RegistryError
from retrain_assets.serving import FeatureMismatchError, load_model
from retrain_assets_tests.support.registry_models import (
    FEATURES,
    TARGET,
    deploy_models,
    labelled_rows,
)

DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    deploy_models(tmp_path / "registry", DAYS)
    return tmp_path / "registry"


def test_loads_the_live_version_by_default_and_any_version_by_name(registry_dir: Path) -> None:
    live = load_model(registry_dir=registry_dir, model_name="classifier")
    assert live.version == "0.1.2" and live.card["partition"] == DAYS[-1]
    assert load_model("previous", registry_dir=registry_dir, model_name="classifier").version == (
        "0.1.1"
    )
    first = load_model("0.1.0", registry_dir=registry_dir, model_name="classifier")
    assert first.features == FEATURES and first.classes == ["down", "up"]


def test_the_settings_choose_the_registry_when_none_is_given(
    registry_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain_assets import settings as settings_module

    monkeypatch.setenv("RETRAIN_REGISTRY_DIR", str(registry_dir))
    settings_module.settings.cache_clear()
    try:
        assert load_model().version == "0.1.2"
    finally:
        settings_module.settings.cache_clear()


def test_columns_are_matched_by_name_whatever_their_order(registry_dir: Path) -> None:
    model = load_model(registry_dir=registry_dir, model_name="classifier")
    rows = labelled_rows(seed=42)
    expected = model.predict(rows[FEATURES])
    shuffled = rows[["f2", TARGET, "f0", "f1"]]  # another order, the label still there
    assert model.predict(shuffled).tolist() == expected.tolist()
    assert (expected == rows[TARGET]).mean() > 0.9  # it really is the model that learned f0
    scores = model.predict_proba(shuffled)
    assert list(scores.columns) == ["down", "up"]
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)


def test_a_missing_or_unknown_column_is_a_clear_error(registry_dir: Path) -> None:
    model = load_model(registry_dir=registry_dir, model_name="classifier")
    rows = labelled_rows()
    with pytest.raises(FeatureMismatchError, match=r"missing \['f1'\].*expects exactly"):
        model.predict(rows.drop(columns=["f1"]))
    with pytest.raises(FeatureMismatchError, match=r"not features of the model \['f3'\]"):
        model.predict(rows.rename(columns={"f1": "f3"}))


def test_files_are_read_by_type_and_bad_values_name_the_column(
    registry_dir: Path, tmp_path: Path
) -> None:
    model = load_model(registry_dir=registry_dir, model_name="classifier")
    rows = labelled_rows()
    rows.to_parquet(tmp_path / "rows.parquet")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    from_parquet = model.predict(tmp_path / "rows.parquet").tolist()
    assert from_parquet == model.predict(str(tmp_path / "rows.csv")).tolist()
    assert from_parquet == model.predict(rows).tolist()
    rows["f2"] = rows["f2"].astype(object)
    rows.loc[3, "f2"] = "abc"
    rows.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"bad.csv: column 'f2' is not numeric: value 'abc'"):
        model.predict(tmp_path / "bad.csv")


def test_an_altered_model_file_is_refused(registry_dir: Path) -> None:
    path = registry_dir / "classifier" / "versions" / "0.1.2" / "model.skops"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(RegistryError, match="sha256 .* does not match"):
        load_model(registry_dir=registry_dir, model_name="classifier")


def test_nothing_live_says_so(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no version is live yet"):
        load_model(registry_dir=tmp_path, model_name="classifier")


def test_odd_arguments_are_named_not_crashed_on(registry_dir: Path) -> None:
    with pytest.raises(RegistryError, match="version must be 'live', 'previous' or X.Y.Z"):
        load_model(None, registry_dir=registry_dir, model_name="classifier")  # type: ignore[arg-type]
    model = load_model(registry_dir=registry_dir, model_name="classifier")
    rows = labelled_rows()
    rows["f1"] = rows["f1"] + 1j  # a real part alone would be scored silently
    with pytest.raises(ValueError, match="column 'f1' holds complex numbers"):
        model.predict(rows)
