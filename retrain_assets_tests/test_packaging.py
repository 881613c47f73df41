"""pyproject.toml: the wheel ships retrain_assets and its console script, nothing else."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from retrain_assets_tests import support as ph


def test_the_wheel_ships_only_retrain_assets(tmp_path: Path) -> None:
    # Built from a copy, so the build leaves no build/ or egg-info behind in the checkout.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ph.REPO_ROOT / name, source / name)
    for name in ("retrain_assets", "retrain_assets_tests", "benchmarks"):
        shutil.copytree(ph.REPO_ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".cache"))  # fmt: skip
    built = subprocess.run(
        [ph.bin_path("uv"), "build", "--wheel", "--quiet", "--out-dir", str(tmp_path / "dist"),
         str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("retrain_assets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"retrain_assets"}
    assert "retrain_assets/registry/store.py" in names  # subpackages are in
    assert "retrain_assets/defs/automation/sensors.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    script = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "retrain-assets = retrain_assets.cli:main" in script
