"""ml/model_file.py: reproducible model files, loaded without pickle; foreign ones refused."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import struct
import zipfile

import numpy as np
import pytest
import skops.io as sio
from isal import isal_zlib

from retrain_assets.ml import model_file
from retrain_assets.ml.fit import build_pipeline
from retrain_assets.ml.model_file import model_from_bytes, model_to_bytes
from retrain_assets_tests.support.training_rows import FAST, day_rows

ESTIMATOR_PARAMS = [
    ("random_forest", {"n_estimators": 5}),
    ("hist_gradient_boosting", {"max_iter": 10}),
    ("logistic_regression", {}),
]


def xy(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    frame = day_rows(seed, n=200)
    frame.loc[::17, "b"] = np.nan
    return frame[["a", "b"]].to_numpy(), frame["target"].to_numpy()


@pytest.mark.parametrize(("estimator", "params"), ESTIMATOR_PARAMS)
def test_model_bytes_are_reproducible(estimator: str, params: dict) -> None:
    x, y = xy()
    pipeline = build_pipeline(estimator, params).fit(x, y)
    first = model_to_bytes(pipeline)
    assert hashlib.sha256(model_to_bytes(pipeline)).hexdigest() == model_file.sha256(first)
    refit = build_pipeline(estimator, params).fit(x, y)
    assert model_file.sha256(model_to_bytes(refit)) == model_file.sha256(first)
    other = build_pipeline(estimator, params).fit(*xy(1))
    assert model_file.sha256(model_to_bytes(other)) != model_file.sha256(first)


@pytest.mark.parametrize(("estimator", "params"), ESTIMATOR_PARAMS)
def test_model_bytes_round_trip_predictions(estimator: str, params: dict) -> None:
    x, y = xy()
    pipeline = build_pipeline(estimator, params).fit(x, y)
    loaded = model_from_bytes(model_to_bytes(pipeline))
    x_new, _ = xy(5)
    np.testing.assert_array_equal(loaded.predict(x_new), pipeline.predict(x_new))
    np.testing.assert_allclose(loaded.predict_proba(x_new), pipeline.predict_proba(x_new))
    assert loaded.classes_.tolist() == [0, 1]


def test_a_model_file_is_a_deflated_zip_any_zip_reader_inflates() -> None:
    x, y = xy()
    pipeline = build_pipeline("random_forest", {"n_estimators": 20}).fit(x, y)
    data = model_to_bytes(pipeline)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:  # the standard library's zlib inflates it
        entries = zf.infolist()
        assert zf.testzip() is None  # every entry's CRC matches what inflates
        arrays = sum(e.file_size for e in entries)
        assert {e.compress_type for e in entries} == {zipfile.ZIP_DEFLATED}
        assert {e.date_time for e in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert len(data) * 2 < arrays  # a forest's arrays shrink severalfold
    # ISA-L deflated every entry: each raw stream is ISA-L's level 1 of the entry's bytes.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for entry in entries:
            name_length, extra_length = struct.unpack("<HH", data[entry.header_offset + 26 :][:4])
            start = entry.header_offset + 30 + name_length + extra_length
            deflater = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15)
            expected = deflater.compress(zf.read(entry)) + deflater.flush()
            assert data[start : start + entry.compress_size] == expected, entry.filename


class NotAModel:
    """Stands in for anything a tampered model file could smuggle in."""

    def __init__(self) -> None:
        self.payload = "rm -rf /"


def test_model_file_with_an_untrusted_type_is_refused() -> None:
    data = sio.dumps({"model": NotAModel()})
    with pytest.raises(ValueError) as info:
        model_from_bytes(data)
    message = str(info.value)
    assert "not on the trust list" in message
    assert "NotAModel" in message


def test_model_file_referencing_a_dangerous_function_is_refused() -> None:
    import os

    data = sio.dumps({"hook": os.system})
    with pytest.raises(ValueError, match="not on the trust list"):
        model_from_bytes(data)


def test_model_loading_never_uses_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = xy()
    pipeline = build_pipeline("random_forest", FAST).fit(x, y)
    data = model_to_bytes(pipeline)
    assert data[:2] == b"PK"  # a zip archive (skops), not a pickle stream

    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    loaded = model_from_bytes(data)
    np.testing.assert_array_equal(loaded.predict(x), pipeline.predict(x))
    # A pickle dressed up as a model file is rejected without being unpickled.
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, as long as it is one
        model_from_bytes(pickle.dumps(pipeline))
    assert calls == []


def test_code_version_names_the_package_and_a_digest() -> None:
    version = model_file.code_version()
    package, _, digest = version.partition("+")
    assert package == model_file.__version__
    assert re.fullmatch(r"[0-9a-f]{12}", digest), digest


# Crafted files that load but would crash predict (a segfault: no exception, no failure hook).
# Never call predict on them here: the test process would die.
def _forest(x: np.ndarray, y: np.ndarray):
    return build_pipeline("random_forest", {"n_estimators": 3}).fit(x, y)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: t.children_left.__setitem__(0, 10_000), "node 0 has left child 10000"),
        (lambda t: t.children_right.__setitem__(0, 0), "node 0 has right child 0"),  # a cycle
        (lambda t: t.feature.__setitem__(0, 99), "node 0 splits on feature 99 of 2"),
    ],
)
def test_a_crafted_tree_is_refused_at_load_not_crashed_on(damage, message: str) -> None:
    x, y = xy()
    pipeline = _forest(x, y)
    damage(pipeline.steps[-1][1].estimators_[1].tree_)
    with pytest.raises(model_file.DamagedModelError, match=f"tree 1 of the forest: {message}"):
        model_from_bytes(model_to_bytes(pipeline))


def test_a_crafted_boosting_tree_is_refused() -> None:
    x, y = xy()
    pipeline = build_pipeline("hist_gradient_boosting", {"max_iter": 3}).fit(x, y)
    predictor = pipeline.steps[-1][1]._predictors[2][0]
    predictor.nodes["left"][0] = 500
    with pytest.raises(model_file.DamagedModelError, match="boosting iteration 2 tree 0"):
        model_from_bytes(model_to_bytes(pipeline))


def test_a_file_holding_something_else_than_a_pipeline_is_refused() -> None:
    x, y = xy()
    model = _forest(x, y).steps[-1][1]
    with pytest.raises(model_file.DamagedModelError, match="not a scikit-learn Pipeline"):
        model_from_bytes(sio.dumps(model))
