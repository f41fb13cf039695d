"""Logging set-up: one line per event, with its context (source, rule, channel...) as key=value."""

from __future__ import annotations

import logging
import sys

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class ContextFormatter(logging.Formatter):
    """Appends the `extra=` fields of a record as key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if context:
            line += " " + " ".join(
                f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}" for k, v in context.items()
            )
        return line


def setup(verbosity: int = 0) -> None:
    """Log to standard error: warnings and up by default, info with -v, debug with -vv."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("newswatch", "ingest", "alerts"):
        logging.getLogger(name).setLevel(level)
