"""The foundations both `ingest/` and `alerts/` stand on: the config model, errors, schema and metrics."""
