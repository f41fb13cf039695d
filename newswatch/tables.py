"""Terminal output for the CLI: rich tables and progress bars, plain when not on a terminal.

Any command can adopt these: `print_table(...)` for listings, `progress(...)` around long work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

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

T = TypeVar("T")

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
) -> int:
    """Print `rows` under `columns` as a table; print `empty` when there are none. Returns the row count.

    A cell may be a rich `Text` (styled, e.g. a search snippet's matches); other cells are shown as text."""
    out = out or console()
    table = Table(title=title, header_style="bold", show_edge=False, pad_edge=False)
    for name in columns:
        numeric = name in ("#", "id", "attempts")
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    count = 0
    for row in rows:
        table.add_row(*(_cell(cell) for cell in row))
        count += 1
    if count:
        out.print(table)
    else:
        out.print(empty)
    return count


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


def _cell(cell: object) -> str | Text:
    """A rich Text is shown as styled; anything else as its text, status words in their colour."""
    if isinstance(cell, Text):
        return cell
    shown = "" if cell is None else str(cell)
    return f"[{STYLES[shown]}]{shown}[/]" if shown in STYLES else _escape(shown)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
