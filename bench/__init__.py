"""Benchmarks and baselines for fleetplan (issue 8): ``python -m bench``; see docs/BENCHMARKS.md."""
