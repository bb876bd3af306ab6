"""Progress of long command-line jobs: a bar with a rate and an estimate on a terminal,
nothing at all when the output is piped or redirected.

Every long verb (``synth conveyor``, ``edge scan`` of a file, ``central export``,
``lot-summaries rebuild``, retention, ``audit verify``) shows its progress through
:func:`progress`, so they all look and behave alike. The bar is drawn on stderr, and only
when both stderr and stdout are terminals: a verb whose output goes to a file or a pipe
(JSON lines, an export) stays byte-for-byte what it was, and logs or CI captures get no
control characters.

Usage::

    with progress("exporting", total=count, unit="events") as bar:
        for event in events:
            ...
            bar.advance()
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, TaskID

__all__ = ["Tracker", "progress", "watched"]


class Tracker(Protocol):
    """What a job reports: work done, and the total once it is known."""

    def advance(self, amount: float = 1) -> None: ...

    def set_total(self, total: float | None) -> None: ...

    def set_completed(self, completed: float) -> None: ...


class _Quiet:
    """The tracker when nobody is watching: costs one method call per step."""

    def advance(self, amount: float = 1) -> None:
        pass

    def set_total(self, total: float | None) -> None:
        pass

    def set_completed(self, completed: float) -> None:
        pass


class _Bar:
    """The tracker drawing a rich progress bar."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self._bar = bar
        self._task = task

    def advance(self, amount: float = 1) -> None:
        self._bar.advance(self._task, amount)

    def set_total(self, total: float | None) -> None:
        self._bar.update(self._task, total=total)

    def set_completed(self, completed: float) -> None:
        """For jobs that learn their count rather than step it (a scanner's frames)."""
        self._bar.update(self._task, completed=completed)


def watched() -> bool:
    """Both streams on a terminal: someone is watching, and nothing is being captured."""
    return all(stream is not None and stream.isatty() for stream in (sys.stdout, sys.stderr))


def _columns(unit: str) -> list[ProgressColumn]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second over rich's recent window (the bar's own rate estimate)."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text(f"- {unit}/s", style="progress.data.speed")
            return Text(f"{speed:,.0f} {unit}/s", style="progress.data.speed")

    return [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]


@contextmanager
def progress(
    description: str,
    total: float | None = None,
    *,
    unit: str = "items",
    console: Console | None = None,
    clock: Callable[[], float] | None = None,
) -> Iterator[Tracker]:
    """A tracker for one job; a bar on stderr only when a person watches a terminal.

    ``console`` and ``clock`` are for tests (a forced terminal into a buffer, a fake
    clock); given a console, its own ``is_terminal`` decides.
    """
    if console is None:
        if not watched():
            yield _Quiet()
            return
        from rich.console import Console

        console = Console(stderr=True)
    if not console.is_terminal:
        yield _Quiet()
        return
    from rich.progress import Progress

    with Progress(*_columns(unit), console=console, get_time=clock) as bar:
        task = bar.add_task(description, total=total)
        yield _Bar(bar, task)
