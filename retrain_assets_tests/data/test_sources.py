"""data/sources.py: which source a configuration reads from."""

from __future__ import annotations

from pathlib import Path

from retrain_assets.data.demo import DemoSource
from retrain_assets.data.landing import LandingDirSource
from retrain_assets.data.sources import SOURCE_NAMES, make_source, source_kind


def test_make_source_picks_demo_without_a_data_dir(tmp_path: Path) -> None:
    assert isinstance(make_source(None, "target", 10), DemoSource)
    landing = make_source(tmp_path, "target", 10)
    assert isinstance(landing, LandingDirSource) and landing.directory == tmp_path


def test_the_kind_of_source_follows_the_data_dir_and_has_a_name(tmp_path: Path) -> None:
    assert (source_kind(None), source_kind(tmp_path)) == ("demo", "landing")
    assert make_source(None, "target", 10).kind == "demo"
    assert make_source(tmp_path, "target", 10).kind == "landing"
    assert set(SOURCE_NAMES) == {"demo", "landing"}
