"""Ingest: sources, fetching, parsing, cleaning, deduplication and storage of articles."""
