"""Terminal output for the CLI: rich tables and progress bars, plain when not on a terminal.

Any command can adopt these: `print_table(...)` for listings, `progress(...)` around long work.
Times go in a table as `When(moment)` cells, written by core/dates.py: local `YYYY-MM-DD HH:MM`,
and "(5 min ago)" too when the whole table still fits the console's width with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from core import dates

T = TypeVar("T")


@dataclass(frozen=True)
class When:
    """A time cell of a table (None: never, shown as "-")."""

    moment: dates.Moment


# Status words get a colour wherever they appear in a table.
STYLES = {
    "sent": "green",
    "ok": "green",
    "pending": "cyan",
    "failed": "yellow",
    "error": "yellow",
    "dead": "bold red",
    "unhealthy": "bold red",
}


def console() -> Console:
    """A console on standard output (colour only on a terminal; never wraps a row when piped)."""
    return Console(highlight=False, soft_wrap=False)


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
    out: Console | None = None,
    now: datetime | None = None,
) -> int:
    """Print `rows` under `columns` as a table; print `empty` when there are none. Returns the row count.

    `When` cells show the local time, with how long before `now` (default: the clock) where there
    is room: when the table is as wide as the console or narrower with it."""
    out = out or console()
    listed = [list(row) for row in rows]
    if not listed:
        out.print(empty)
        return 0
    long_form = partial(dates.local_and_ago, now=now)
    table = _table(columns, listed, title, long_form)
    if Measurement.get(out, out.options.update(max_width=1_000_000), table).maximum > out.width:
        table = _table(columns, listed, title, dates.local)  # no room for "(5 min ago)"
    out.print(table)
    return len(listed)


def _table(
    columns: Sequence[str], rows: list[list[object]], title: str | None, when: Callable[[dates.Moment], str]
) -> Table:
    table = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for name in columns:
        numeric = name in ("#", "id", "attempts", "http", "failures", "seen")
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        cells = [_text(cell, when) for cell in row]
        table.add_row(*(f"[{STYLES[c]}]{c}[/]" if c in STYLES else _escape(c) for c in cells))
    return table


def _text(cell: object, when: Callable[[dates.Moment], str]) -> str:
    if isinstance(cell, When):
        return when(cell.moment) if cell.moment is not None else "-"
    return "" if cell is None else str(cell)


def _columns() -> tuple[TextColumn, BarColumn, MofNCompleteColumn, TimeRemainingColumn]:
    return TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()


def progress(
    items: Iterable[T], total: int | None, description: str, *, out: Console | None = None
) -> Iterator[T]:
    """Yield `items`, showing a progress bar on standard error when it is a terminal (nothing when piped).

    `out` replaces the standard-error console (tests pass one on a fake terminal).
    """
    out = out or Console(stderr=True)
    if not out.is_terminal:
        yield from items
        return
    with Progress(*_columns(), console=out, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


Counter = Callable[[str, int, int], None]


@contextmanager
def counters(out: Console | None = None) -> Iterator[Counter]:
    """Yield `count(label, done, total)` for work in named parts (e.g. one per table).

    On a terminal each label gets a progress bar on standard error; otherwise each call prints a
    plain `label: done/total` line there, which logs and scripts can read.
    """
    out = out or Console(stderr=True)
    if not out.is_terminal:

        def line(label: str, done: int, total: int) -> None:
            out.file.write(f"{label}: {done}/{total}\n")
            out.file.flush()

        yield line
        return
    with Progress(*_columns(), console=out) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield advance


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
