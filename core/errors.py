"""The few exceptions a user ever sees; the CLI turns each into a one-line message and an exit code."""


class NewswatchError(Exception):
    """Base class: the message is written for the person running Newswatch."""


class ConfigError(NewswatchError):
    """The configuration cannot be used as written (exit code 2)."""


class SourceError(NewswatchError):
    """A source could not be polled; other sources carry on."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"source {source!r}: {message}")
        self.source = source
        self.reason = message


class DeliveryError(NewswatchError):
    """An alert could not be delivered to a channel; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the peer asked us to wait (Retry-After), if it did
