"""cli/backfill.py: retrain-assets backfill's arguments and errors, without a webserver."""

import pytest

from retrain_assets import cli
from retrain_assets_tests.support import free_port


def test_days_cover_the_range_inclusive_and_refuse_nonsense() -> None:
    assert cli.days("2026-02-27", "2026-03-01") == ["2026-02-27", "2026-02-28", "2026-03-01"]
    with pytest.raises(cli.CliError, match="--to 2026-03-01 is before --from 2026-03-02"):
        cli.days("2026-03-02", "2026-03-01")
    with pytest.raises(cli.CliError, match="must be dates"):
        cli.days("yesterday", "2026-03-01")


def test_an_unreachable_webserver_is_one_clear_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code = cli.main(["backfill", "--from", "2026-03-01", "--to", "2026-03-02", "--url", url])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"retrain-assets: cannot reach the Dagster webserver at {url}")
    assert len(err.strip().splitlines()) == 1
