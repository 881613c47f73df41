"""Everything Dagster loads: partitions, resources, the retraining assets, automation, hooks."""
