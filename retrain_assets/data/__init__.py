"""Where the rows come from and whether they can be trained on (no Dagster)."""
