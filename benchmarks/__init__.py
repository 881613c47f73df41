"""Benchmarks: the pipeline against a bare pandas + scikit-learn script on the same data.

`python -m benchmarks.run --size quick|full` (or `make bench-quick` / `make bench`).
"""
