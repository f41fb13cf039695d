"""The installed version of Newswatch (for the CLI, the User-Agent and the status page)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newswatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
