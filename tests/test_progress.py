"""The shared progress bar: a rate and an estimate on a terminal, silence when piped."""

from __future__ import annotations

import io
import subprocess
import sys

from rich.console import Console

from linetrace.progress import progress


class Clock:
    """A clock the test moves: one step of work per tenth of a second."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_shows_the_count_the_rate_and_an_estimate() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    clock = Clock()
    with progress("exporting", total=100, unit="events", console=console, clock=clock) as bar:
        for _ in range(50):
            clock.now += 0.1
            bar.advance()
    shown = out.getvalue()
    assert "exporting" in shown
    assert "50/100" in shown
    assert "10 events/s" in shown
    assert "eta" in shown
    assert "0:00:05" in shown  # 50 left at 10 a second


def test_an_unknown_total_is_fine_and_can_be_set_later() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    clock = Clock()
    with progress("scanning", console=console, clock=clock) as bar:
        clock.now += 1
        bar.advance(5)
        bar.set_total(10)
        clock.now += 1
        bar.advance(5)
    assert "10/10" in out.getvalue()


def test_a_console_that_is_not_a_terminal_gets_nothing() -> None:
    out = io.StringIO()
    with progress("exporting", total=3, console=Console(file=out)) as bar:
        bar.advance(3)
    assert out.getvalue() == ""


def test_piped_output_stays_quiet() -> None:
    """A real child whose streams are pipes: not one byte of progress."""
    code = (
        "from linetrace.progress import progress\n"
        "with progress('work', total=1000) as bar:\n"
        "    for _ in range(1000): bar.advance()\n"
        "print('done')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout == "done\n"
    assert run.stderr == ""
