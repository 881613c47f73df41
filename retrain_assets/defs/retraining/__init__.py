"""The four daily assets and the deploy gate: one module per step, thin over plain modules."""
