"""One progress-bar style for every long stage (rich.progress).

Bars go to stderr and disappear from logs when stderr is not a terminal
(rich handles that), so scripted runs stay readable.
"""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.console import Console

_console = Console(stderr=True)


def make_progress(transient: bool = False) -> Progress:
    """A rich Progress with description, bar, n/N, elapsed, remaining and a free-text field ``info``."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=_console,
        transient=transient,
    )


def track(iterable, description: str, total: int | None = None):
    """Iterate with a progress bar."""
    with make_progress() as prog:
        task = prog.add_task(description, total=total if total is not None else len(iterable), info="")
        for item in iterable:
            yield item
            prog.advance(task)
