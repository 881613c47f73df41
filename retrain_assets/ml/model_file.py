"""The model file: safe (skops, explicit trust list) and reproducible (same model, same bytes)."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import skops
import skops.io as sio
from sklearn.pipeline import Pipeline
from skops.io._utils import SaveContext, get_state  # skops' own dump steps, see model_to_bytes
from skops.io.exceptions import UntrustedTypesFoundException

from retrain_assets import __version__

# Types skops must be told to trust beyond its own defaults; reviewed, one per estimator family.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


@dataclass(frozen=True)
class _OrderedSaveContext(SaveContext):
    """skops' save context, numbering objects in traversal order instead of by id().

    skops names array entries and shared-object references after Python object ids, so two
    dumps of one model differ; numbered in order, the same model always gives the same file.
    The memo still holds every object until the dump ends, so no number is given twice.
    """

    numbers: dict[int, int] = field(default_factory=dict)

    def memoize(self, obj: Any) -> int:
        super().memoize(obj)
        return self.numbers.setdefault(id(obj), len(self.numbers) + 1)


class _FixedTimeZipFile(zipfile.ZipFile):
    """A zip writer that stamps every entry with one fixed time (skops stamps the clock's)."""

    def writestr(
        self,
        zinfo_or_arcname: str | zipfile.ZipInfo,
        data: Any,
        compress_type: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        if isinstance(zinfo_or_arcname, str):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=(1980, 1, 1, 0, 0, 0))
            compress_type = self.compression if compress_type is None else compress_type
            compresslevel = self.compresslevel if compresslevel is None else compresslevel
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)


def model_to_bytes(pipeline: Pipeline) -> bytes:
    """skops bytes made reproducible: the same model always gives the same sha256, so the
    registry sees a re-deployed identical model as identical.

    skops.io.dumps with two things fixed (object numbering, entry times); the format is
    skops' own, loaded by skops.io.loads. Deflate level 1: a forest's arrays shrink about
    fourfold; zlib's default level 6 takes three times as long for ~20 % more.
    """
    buffer = io.BytesIO()
    with _FixedTimeZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        context = _OrderedSaveContext(zip_file=zf)
        state = get_state(pipeline, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = skops.__version__
        zf.writestr("schema.json", json.dumps(state, separators=(",", ":")))
    return buffer.getvalue()


def model_from_bytes(data: bytes) -> Pipeline:
    """Load a model file without executing arbitrary code (skops, explicit trust list)."""
    try:
        # loads audits the types itself; listing them first would parse the file twice.
        return sio.loads(data, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException:
        untrusted = set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
        if not untrusted:
            raise
        raise ValueError(
            f"model file holds types not on the trust list: {sorted(untrusted)}"
        ) from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def code_version() -> str:
    """Package version plus a digest of the modules that decide what a model is."""
    digest = hashlib.sha256()
    package = Path(__file__).parent.parent
    for path in sorted([*package.glob("data/*.py"), *package.glob("ml/*.py")]):
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"
