"""How a moment is written, in one place.

For a person on a terminal: local time as `YYYY-MM-DD HH:MM` (`local`) and, where a table has room,
how long ago or how soon as well (`ago`: "5 min ago", "in 2 h"). For scripts (`--json`) and stored
payloads: ISO 8601 in UTC (`iso`). Stored times are UTC; a naive one is read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

Moment = datetime | str | None

LOCAL_FORMAT = "%Y-%m-%d %H:%M"
LOCAL_WIDTH = len("YYYY-MM-DD HH:MM")
MINUTE, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400


def parse(moment: Moment) -> datetime | None:
    """`moment` as a timezone-aware datetime: a datetime, an ISO 8601 string, or None/"" (None)."""
    if moment is None or moment == "":
        return None
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def local(moment: Moment, empty: str = "-") -> str:
    """`YYYY-MM-DD HH:MM` in the local time zone ($TZ, else the system's); `empty` for no moment."""
    when = parse(moment)
    return empty if when is None else when.astimezone().strftime(LOCAL_FORMAT)


def ago(moment: Moment, now: datetime | None = None) -> str:
    """How long before `now` (or after it): "just now", "5 min ago", "3 h ago", "in 2 days"; "" for
    no moment."""
    when = parse(moment)
    if when is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - when).total_seconds()
    future, span = seconds < 0, abs(seconds)
    if span < MINUTE:
        return "in under a minute" if future else "just now"
    if span < HOUR:
        amount = f"{int(span // MINUTE)} min"
    elif span < DAY:
        amount = f"{int(span // HOUR)} h"
    elif span < YEAR:
        days = int(span // DAY)
        amount = f"{days} day{'s' if days != 1 else ''}"
    else:
        years = int(span // YEAR)
        amount = f"{years} year{'s' if years != 1 else ''}"
    return f"in {amount}" if future else f"{amount} ago"


def local_and_ago(moment: Moment, now: datetime | None = None, empty: str = "-") -> str:
    """`YYYY-MM-DD HH:MM (5 min ago)`: the long form, for a table with room and one-line summaries."""
    when = parse(moment)
    return empty if when is None else f"{local(when)} ({ago(when, now)})"


def iso(moment: Moment) -> str | None:
    """ISO 8601 in UTC (`2026-12-01T06:30:00+00:00`), as `--json` and payloads write it; None for none."""
    when = parse(moment)
    return None if when is None else when.astimezone(UTC).isoformat()
