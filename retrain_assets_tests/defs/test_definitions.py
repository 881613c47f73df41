"""The code location as Dagster loads it: names, groups, kinds, partitions, default statuses."""

import dagster as dg
from dagster._core.definitions.dependency import NodeHandle

from retrain_assets.definitions import defs

ASSETS = ["raw_dataset", "trained_model", "evaluation_metrics", "deployed_model_version"]


def test_four_assets_in_group_retraining_with_descriptions_and_kinds() -> None:
    graph = defs.resolve_asset_graph()
    for name in ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "retraining"
        assert node.description and len(node.description) > 40
        assert node.kinds, name
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.partitions_def.start.date().isoformat() == "2026-01-01"
    # Lineage: each asset depends on the previous one; trained_model on a window of raw days.
    parents = {n: {k.path[-1] for k in graph.get(dg.AssetKey(n)).parent_keys} for n in ASSETS}
    assert parents == {
        "raw_dataset": set(),
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
    # Every step notifies, in retrain_job and in the implicit job of asset-graph launches alike.
    for any_job in (job, defs.resolve_implicit_global_asset_job_def()):
        for node in any_job.graph.nodes:
            hooks = any_job.get_all_hooks_for_handle(NodeHandle(node.name, None))
            assert {h.name for h in hooks} == {"telegram_on_success", "telegram_on_failure"}
        assert len(any_job.graph.nodes) == 5  # the four assets and the check
    schedule = defs.resolve_schedule_def("retrain_schedule")
    assert schedule.job_name == "retrain_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.resolve_sensor_def("new_data_sensor")
    assert sensor.job_name == "retrain_job"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30
