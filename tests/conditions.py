"""Waiting in tests: on a condition, never on a fixed time.

A test that sleeps a fixed time is slow where the machine is fast and flaky where it is
loaded; one that polls a condition with a generous deadline is neither.

In a browser test, poll ``page.evaluate`` rather than Playwright's ``wait_for_function``:
that one evaluates its predicate inside the page by ``eval`` while it is still false, which
central's content security policy forbids (so it fails exactly when the machine is slow).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["POLL_S", "WAIT_S", "wait_until"]

# Local delivery and processing take milliseconds; a loaded CI box gets ample headroom.
WAIT_S = 10.0
# Between two looks at the condition: short next to what a test waits for, long enough
# not to take a core from the code under test.
POLL_S = 0.02


def wait_until(
    condition: Callable[[], object],
    timeout: float = WAIT_S,
    message: str = "condition not met in time",
) -> None:
    """Return once ``condition()`` is true; AssertionError with ``message`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        time.sleep(POLL_S)
