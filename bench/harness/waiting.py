"""Waiting on a condition with a deadline, for a benchmark's phases."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["PHASE_TIMEOUT_S", "POLL_S", "wait_for"]

# Seconds to wait for the last events of a phase before reporting what arrived.
PHASE_TIMEOUT_S = 120.0
# Between two looks at the condition: a few milliseconds, so the end of a phase is seen
# within a fraction of its length without taking a core from what is measured.
POLL_S = 0.005


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str | Callable[[], str],
    poll_s: float = POLL_S,
) -> None:
    """Return once ``condition()`` holds; TimeoutError saying ``what`` after ``timeout`` s.

    ``what`` may be a function, for a message that says how far it got at the timeout.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what if isinstance(what, str) else what())
        time.sleep(poll_s)
