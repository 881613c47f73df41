"""benchmarks/: bare does the pipeline's ML and measurements are the process's own.

The ratios only mean something if both hold. No timings are asserted here.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import bare
from benchmarks.data import TARGET, days_from, write_days
from benchmarks.measure import TreeSampler, run_measured
from benchmarks.run import goal_report
from retrain_assets.data.landing import LandingDirSource
from retrain_assets.defs.partitions import window_of
from retrain_assets.ml.fit import fit_window
from retrain_assets.ml.metrics import evaluate
from retrain_assets.ml.window import assemble_window
from retrain_assets.settings import settings

FIRST = "2026-01-01"
REPO = Path(__file__).resolve().parents[1]  # the launcher runs as `python -m benchmarks.measure`

WINDOW_DAYS = settings().window_days  # the in-process tests' window (conftest.py)


@pytest.mark.parametrize(
    ("estimator", "params"),
    [("random_forest", {"n_estimators": 10}), ("hist_gradient_boosting", {"max_iter": 20})],
)
def test_bare_computes_what_the_pipeline_computes(
    tmp_path: Path, estimator: str, params: dict
) -> None:
    days = days_from(FIRST, 5)
    write_days(tmp_path / "landing", days, FIRST, rows=300, features=6)

    result = bare.retrain_day(
        tmp_path / "landing",
        tmp_path / "models",
        days[-1],
        window=WINDOW_DAYS,
        start_date=FIRST,
        estimator=estimator,
        params=params,
    )

    # The pipeline's path: validated days, the window, the holdout split, fit and scoring.
    source = LandingDirSource(tmp_path / "landing", TARGET, min_rows=10)
    window_days = window_of(days[-1])
    frames = {day: source.load(day)[0] for day in window_days}
    window = assemble_window(frames, {}, window_days, TARGET, consume=True)
    model, holdout = fit_window(
        window,
        target=TARGET,
        holdout_fraction=bare.HOLDOUT_FRACTION,
        min_train_rows=10,
        estimator=estimator,
        params=params,
    )
    metrics = evaluate(model.pipeline, holdout, model.features, TARGET)

    assert result["rows"] == model.fit_rows + model.holdout_rows == 1500
    assert result["features"] == len(model.features) == 6
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc"):
        assert result[name] == getattr(metrics, name), name
    assert result["confusion_matrix"] == metrics.confusion_matrix
    assert (tmp_path / "models" / f"{days[-1]}.skops").is_file()


def test_bare_window_clips_at_the_start_date_like_the_pipeline() -> None:
    for day in ("2026-01-03", "2026-02-10"):
        assert bare.window_days(day, WINDOW_DAYS, FIRST) == window_of(day)


def test_measured_peak_rss_is_the_child_s_own(tmp_path: Path) -> None:
    # This test process holds hundreds of MB (pandas, scikit-learn, dagster); a child that
    # allocates little must not inherit that high-water mark, one that allocates much must show it.
    allocate = "b = bytearray({mb} << 20); b[::4096] = b'x' * len(b[::4096])"
    small = run_measured(
        [sys.executable, "-c", allocate.format(mb=1)], {}, tmp_path / "small.log", REPO
    )
    large = run_measured(
        [sys.executable, "-c", allocate.format(mb=300)], {}, tmp_path / "large.log", REPO
    )
    assert small.returncode == large.returncode == 0
    assert small.peak_rss_mb < 60
    assert large.peak_rss_mb >= 300
    assert large.cpu_s > 0


def test_failed_command_reports_its_exit_code(tmp_path: Path) -> None:
    failed = run_measured(
        [sys.executable, "-c", "raise SystemExit(3)"], {}, tmp_path / "f.log", REPO
    )
    assert failed.returncode == 3


def test_goal_report_judges_ratio_and_memory_above_the_interpreter() -> None:
    result = {
        "ratio": 1.14,
        "window_data_mb": 160.0,
        "peak_rss_mb": 690.0,
        "import_baseline_rss_mb": {"pipeline": 250.0},
    }
    report = goal_report("scale", result)
    assert report["ratio_met"] is True
    assert report["rss_goal_mb"] == 480.0
    assert report["rss_met"] is False  # 690 MB > 3 x 160 MB
    assert report["rss_above_imports_mb"] == 440.0
    assert report["rss_above_imports_met"] is True
    assert goal_report("ui_backfill", {"ratio": 1.31})["ratio_met"] is False
    over = goal_report("history_upload", {"ratio": 1.2, "overhead_cpu_s_per_day": 0.31})
    assert over["ratio_met"] is True and over["overhead_met"] is False
    assert goal_report("sensor_latency", {"ratio": None}) == {}


def test_a_sampler_knows_the_whole_tree_when_it_starts() -> None:
    # A workload counts the processes that appear after its start; the ones running before
    # (dagster dev's daemon and webserver) must already be known, or they count as its work.
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess; subprocess.run(['sleep', '60'])"],
        start_new_session=True,
    )
    try:
        probe = TreeSampler(root=parent.pid)
        deadline = time.monotonic() + 60
        while len(probe.seen) < 2 and time.monotonic() < deadline:  # until the child runs
            probe.sample()
        assert len(probe.seen) == 2
        sampler = TreeSampler(root=parent.pid, interval_s=3600.0)  # its thread never samples
        sampler.start()
        try:
            assert set(sampler.seen) == set(probe.seen)
        finally:
            sampler.stop()
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the sleep too
        parent.wait()
