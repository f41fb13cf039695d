"""Terminal output for the CLI: rich tables and progress bars, plain when not on a terminal.

Any command can adopt these: `print_table(...)` for listings, `progress(...)` around long work.
Times go in a table as `When(moment)` cells, written by core/dates.py: local `YYYY-MM-DD HH:MM`,
and "(5 min ago)" too when the table still has room with it on the console.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

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


# Columns of long free text: on a narrow console they fold over several lines. A table has room
# when its other columns fit whole and these still get FOLD_TO characters a line.
FLEXIBLE = frozenset({"title", "url", "last error", "topics"})
FOLD_TO = 12


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
    out: Console | None = None,
    now: datetime | None = None,
    optional: Sequence[str] = (),
) -> int:
    """Print `rows` under `columns` as a table; print `empty` when there are none. Returns the row count.

    Where the console has room (`_width`), `When` cells show the local time and how long before `now`
    (default: the clock) it was; with less, the local time alone; with less still, the `optional`
    columns are left out, in their order, until the rest has room (`--json` has them all). A cell may
    be a rich `Text` (styled, e.g. a search snippet's matches); other cells are shown as text."""
    out = out or console()
    listed = [list(row) for row in rows]
    if not listed:
        out.print(empty)
        return 0
    shown = list(columns)
    when: Callable[[dates.Moment], str] = partial(dates.local_and_ago, now=now)
    if _width(shown, columns, listed, when) > out.width:
        when = dates.local
        for name in (name for name in optional if name in shown):
            if _width(shown, columns, listed, when) <= out.width:
                break
            shown.remove(name)
    room = _width(shown, columns, listed, when) <= out.width
    widths = _fit(shown, columns, listed, when, out.width) if room else None
    out.print(_table(shown, columns, listed, title, when, widths))
    return len(listed)


def _naturals(
    shown: Sequence[str],
    columns: Sequence[str],
    rows: list[list[object]],
    when: Callable[[dates.Moment], str],
) -> list[int]:
    """The width of each of the `shown` columns' widest cell or header."""
    return [
        max(cell_len(name), *(cell_len(_text(row[columns.index(name)], when)) for row in rows))
        for name in shown
    ]


def _width(
    shown: Sequence[str],
    columns: Sequence[str],
    rows: list[list[object]],
    when: Callable[[dates.Moment], str],
) -> int:
    """The console width the `shown` columns need: each one's widest cell (FOLD_TO at most for the
    FLEXIBLE ones), and the rules between them."""
    naturals = _naturals(shown, columns, rows, when)
    needs = [min(n, FOLD_TO) if name in FLEXIBLE else n for name, n in zip(shown, naturals, strict=True)]
    return sum(needs) + 3 * (len(shown) - 1)


def _fit(
    shown: Sequence[str],
    columns: Sequence[str],
    rows: list[list[object]],
    when: Callable[[dates.Moment], str],
    width: int,
) -> list[int]:
    """Column widths for a table that has room: every column as wide as its widest cell, but the
    FLEXIBLE ones, which share what is left (FOLD_TO each at least) and fold."""
    naturals = _naturals(shown, columns, rows, when)
    flexible = [i for i, name in enumerate(shown) if name in FLEXIBLE]
    widths = [min(n, FOLD_TO) if i in flexible else n for i, n in enumerate(naturals)]
    spare = width - sum(widths) - 3 * (len(shown) - 1)
    while spare > 0:
        growing = [i for i in flexible if widths[i] < naturals[i]]
        if not growing:
            break
        share = max(1, spare // len(growing))
        for i in growing:
            grow = min(share, naturals[i] - widths[i], spare)
            widths[i] += grow
            spare -= grow
    return widths


def _table(
    shown: Sequence[str],
    columns: Sequence[str],
    rows: list[list[object]],
    title: str | None,
    when: Callable[[dates.Moment], str],
    widths: list[int] | None,
) -> Table:
    """The table, its columns `widths` wide (None: rich folds every column as it must)."""
    table = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for i, name in enumerate(shown):
        numeric = name in ("#", "id", "attempts", "http", "failures", "seen")
        fixed = widths[i] if widths is not None else None
        table.add_column(name, justify="right" if numeric else "left", overflow="fold", width=fixed)
    picks = [columns.index(name) for name in shown]
    for row in rows:
        table.add_row(*(_cell(row[i], when) for i in picks))
    return table


def _text(cell: object, when: Callable[[dates.Moment], str]) -> str:
    if isinstance(cell, Text):
        return cell.plain
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


def _cell(cell: object, when: Callable[[dates.Moment], str]) -> str | Text:
    """A rich Text is shown as styled; anything else as its text, status words in their colour."""
    if isinstance(cell, Text):
        return cell
    shown = _text(cell, when)
    return f"[{STYLES[shown]}]{shown}[/]" if shown in STYLES else _escape(shown)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
