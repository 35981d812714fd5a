"""Benchmarks printed as ratios to baselines measured in the same run: `python -m tests.bench`
(see table.py for the table, rows.py for what each row measures)."""
