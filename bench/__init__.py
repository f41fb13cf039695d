"""Benchmarks: Newswatch against its peers on the same loopback feeds (`python -m bench`)."""
