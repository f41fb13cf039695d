"""Benchmarks: `python -m bench` runs Newswatch against its peers; `python -m bench.<topic>` one stage."""
