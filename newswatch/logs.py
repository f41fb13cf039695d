"""Logging set-up: one line per event with its context (source, rule, channel...): readable on a
terminal, JSON lines when standard error is not a terminal or with `--log-format json`."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
FORMATS = ("auto", "human", "json")

# Context keys whose values are never written out, whatever a caller passes.
_SECRET_KEY = re.compile(r"secret|password|token|authorization|api_key", re.IGNORECASE)
REDACTED = "[redacted]"


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: (REDACTED if _SECRET_KEY.search(k) else v)
        for k, v in record.__dict__.items()
        if k not in _STANDARD and not k.startswith("_")
    }


class ContextFormatter(logging.Formatter):
    """Appends the `extra=` fields of a record as key=value pairs."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context(record)
        if context:
            line += " " + " ".join(
                f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}" for k, v in context.items()
            )
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _context(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def use_json(fmt: str, stream: TextIO) -> bool:
    """Whether `fmt` (auto, human, json) means JSON lines on `stream`."""
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (isatty is not None and isatty())
    return fmt == "json"


def setup(verbosity: int = 0, fmt: str = "auto") -> None:
    """Log to standard error: warnings and up by default, info with -v, debug with -vv."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if use_json(fmt, sys.stderr):
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("newswatch", "ingest", "alerts"):
        logging.getLogger(name).setLevel(level)
