"""Newswatch: poll news sources, keep one clean article per story, alert on watched people and topics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newswatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
