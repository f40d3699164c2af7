"""Benchmarks of voca against the per-video npz layout used today; results in docs/benchmarks.md.

Run one with ``python -m benchmarks.<name>``, e.g. ``python -m benchmarks.loader --quick``.
Timings are ratios against a baseline measured in the same run (the machine is shared, so
absolute numbers are noisy); they are never asserted in tests.
"""
