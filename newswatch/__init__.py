"""Newswatch: poll news sources, keep one clean article per story, alert on watched people and topics."""

from core.version import __version__

__all__ = ["__version__"]
