"""The model file: safe (skops, explicit trust list) and reproducible (same model, same bytes)."""

from __future__ import annotations

import functools
import hashlib
import io
import re
import zipfile
from pathlib import Path

import skops.io as sio
from sklearn.pipeline import Pipeline
from skops.io.exceptions import UntrustedTypesFoundException

from retrain_assets import __version__

# Types skops must be told to trust beyond its own defaults; reviewed, one per estimator family.
TRUSTED_TYPES = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]



_ENTRY_REF = re.compile(r'"(\d+\.npy)"')
_ID_REF = re.compile(r'"__id__": (\d+)')


def model_to_bytes(pipeline: Pipeline) -> bytes:
    """skops bytes made reproducible: the same model always gives the same sha256.

    skops names array entries and shared-object references after Python object ids and stamps
    the current time, so two dumps of one model differ. Renaming entries in order and fixing
    the time lets the registry see a re-deployed identical model as identical.
    """
    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(pipeline)))
    schema = raw.read("schema.json").decode()
    # The schema lists entries in traversal order, which is the same for the same model.
    renames: dict[str, str] = {}
    for name in _ENTRY_REF.findall(schema):
        renames.setdefault(name, f"{len(renames):06d}.npy")
    # One pass over the schema (MBs for a forest), not one str.replace per entry (hundreds).
    schema = _ENTRY_REF.sub(lambda m: f'"{renames[m.group(1)]}"', schema)
    # Shared-object references use object ids too; number them in order, consistently.
    ids: dict[str, str] = {}
    schema = _ID_REF.sub(
        lambda m: f'"__id__": {ids.setdefault(m.group(1), str(len(ids) + 1))}', schema
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(raw.namelist(), key=lambda n: renames.get(n, n)):
            data = schema.encode() if name == "schema.json" else raw.read(name)
            info = zipfile.ZipInfo(renames.get(name, name), date_time=(1980, 1, 1, 0, 0, 0))
            # Level 1: a forest's float arrays barely compress further at zlib's default level
            # 6 (files ~20 % smaller), which takes three times as long: seconds per model.
            dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return out.getvalue()


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
