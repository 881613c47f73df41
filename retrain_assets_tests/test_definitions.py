"""definitions.py: the code location as Dagster loads it, and its snapshot."""

import dagster as dg
from dagster._core.definitions.dependency import NodeHandle

from retrain_assets.definitions import defs
from retrain_assets_tests import support as ph

ASSETS = list(ph.RETRAIN_ASSETS)


def test_five_assets_in_group_retraining_with_descriptions_and_kinds() -> None:
    graph = defs.resolve_asset_graph()
    for name in ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "retraining"
        assert node.description and len(node.description) > 40
        assert node.kinds, name
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.start.date().isoformat() == "2026-01-01"
    # Lineage: the four of the contract in a chain, the watch beside it, day to day.
    parents = {n: {k.path[-1] for k in graph.get(dg.AssetKey(n)).parent_keys} for n in ASSETS}
    assert parents == {
        "raw_dataset": set(),
        "live_model_metrics": {"raw_dataset"},  # the watch: the day's rows, the live model
        "trained_model": {"raw_dataset"},
        "evaluation_metrics": {"trained_model"},
        "deployed_model_version": {"evaluation_metrics"},
    }


def test_gate_is_a_blocking_check_partitioned_like_its_asset() -> None:
    graph = defs.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey("evaluation_metrics"), "accuracy_above_threshold")
    spec = graph.get_check_spec(key)
    assert spec.blocking
    assert spec.partitions_def == graph.get(dg.AssetKey("evaluation_metrics")).partitions_def


def test_job_schedule_and_sensor_names_and_default_statuses() -> None:
    job = defs.resolve_job_def("retrain_job")
    assert {k.path[-1] for k in job.asset_layer.selected_asset_keys} == set(ASSETS)
    assert job.executor_def.name == "in_process"
    # One op computes the four assets and the check, day by day, in retrain_job and in the
    # implicit job of asset-graph launches alike: same executor, same hooks, same pool.
    for any_job in (job, defs.resolve_implicit_global_asset_job_def()):
        assert [node.name for node in any_job.graph.nodes] == ["retraining"]
        hooks = any_job.get_all_hooks_for_handle(NodeHandle("retraining", None))
        assert {h.name for h in hooks} == {"telegram_on_success", "telegram_on_failure"}
        assert any_job.executor_def.name == "in_process"
        assert any_job.graph.nodes[0].definition.pools == {"retrain"}
    schedule = defs.resolve_schedule_def("retrain_schedule")
    assert schedule.job_name == "retrain_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.resolve_sensor_def("new_data_sensor")
    assert sensor.job_name == "retrain_job"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30


def test_definitions_snapshot() -> None:
    """Names, keys, partitions and wiring in one assertion: any drift shows here."""
    graph = defs.resolve_asset_graph()
    snapshot = {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "checks": sorted(k.to_user_string() for k in graph.asset_check_keys),
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs()),
        "schedules": [(s.name, s.cron_schedule) for s in defs.schedules],
        "sensors": [s.name for s in defs.sensors],
        "resources": sorted(defs.resources),
        "backfill": graph.get(dg.AssetKey("raw_dataset")).backfill_policy.max_partitions_per_run,
        "raw_to_model": graph.get_partition_mapping(
            dg.AssetKey("trained_model"), dg.AssetKey("raw_dataset")
        ).start_offset,
    }
    assert snapshot == {
        "assets": ASSETS_SORTED,
        "checks": ["evaluation_metrics:accuracy_above_threshold"],
        "jobs": ["__ASSET_JOB", "retrain_job", "rollback_job"],
        "schedules": [("retrain_schedule", "0 1 * * *")],
        "sensors": ["new_data_sensor"],
        "resources": ["retrain", "telegram"],
        "backfill": 100,
        "raw_to_model": 0,  # day to day: the window is read via window_of
    }


ASSETS_SORTED = sorted(ASSETS)


def test_the_launchpad_offers_the_gate_once_and_no_directories() -> None:
    job = defs.resolve_job_def("retrain_job")
    fields = job.run_config_schema.config_type.fields
    retrain = fields["resources"].config_type.fields["retrain"].config_type.fields["config"]
    assert not retrain.is_required
    assert not hasattr(retrain.config_type, "fields")  # no data_dir, registry_dir, threshold
    op_config = fields["ops"].config_type.fields["retraining"].config_type.fields["config"]
    assert set(op_config.config_type.fields) == {
        "estimator", "hyperparameters", "accuracy_threshold", "max_regression"
    }  # fmt: skip
