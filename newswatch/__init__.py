"""Newswatch: poll news sources, keep one clean article per story, alert on watched people and topics."""

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # `newswatch.__version__` is read from the installed metadata only when asked: importing
    # importlib.metadata would slow every start of the command (and of each worker process).
    if name == "__version__":
        from core.version import __version__

        return __version__
    raise AttributeError(f"module 'newswatch' has no attribute {name!r}")
