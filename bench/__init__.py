"""Benchmarks: scripts that print measured figures (run as `python -m bench.<topic>`)."""
