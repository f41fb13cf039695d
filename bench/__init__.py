"""Benchmarks: `python -m bench.<topic>` prints figures and ratios against a baseline in the same run."""
