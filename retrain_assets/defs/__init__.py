"""Everything Dagster loads: partitions, resources, the retraining assets, automation, hooks."""

import warnings

import dagster as dg

# Backfill policies and partitioned checks are marked beta/preview in Dagster 1.13; they are used
# deliberately (pinned release, covered by tests), so the warnings would only be noise in every
# code-server, daemon and run log. Here, before any module of defs/ declares them.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
